"""A batch of plain SETs encoded for L3: :func:`set_commands` (the names and ``SET`` commands of
:meth:`RemoteTier.set_many_then <memories.optimization.cache.remote.tier.RemoteTier.set_many_then>` for a Redis
Cluster), :func:`joined_set_commands` (those commands in one buffer, for the one node of a standalone or Sentinel
L3) and
:func:`count_with_prefix` (:func:`~memories.optimization.cache.remote.values.bytes_to_remote`'s check for the
marker), each in one compiled call per batch (``_encoding.c``) when the extension is built and
``MEMORIES_PURE_PYTHON=1`` is not set, else in the Python written here, which is the reference of the compiled one
(``tests/unit/optimization/cache/test_remote_encoding.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Callable

from memories.compiled import load_compiled


def python_set_commands(prefix: bytes, keys: list[str], values: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The Redis name of each of ``keys`` (``prefix`` and the key in UTF-8, surrogateescape) and the ``SET name
    value`` command of each pair with ``values``, as RESP arrays of bulk strings: ``(names, commands)``."""
    names = [prefix + key.encode("utf-8", "surrogateescape") for key in keys]
    commands = [
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(name), name, len(value), value)
        for name, value in zip(names, values, strict=True)
    ]
    return names, commands


def python_joined_set_commands(prefix: bytes, keys: list[str], values: list[bytes]) -> bytes:
    """The commands of :func:`python_set_commands` back to back in one bytes object."""
    return b"".join(python_set_commands(prefix, keys, values)[1])


def python_count_with_prefix(values: list[bytes], prefix: bytes) -> int:
    """How many of ``values`` start with ``prefix``."""
    return sum(value.startswith(prefix) for value in values)


_module = load_compiled("memories.optimization.cache.remote._encoding")
#: Whether the compiled functions are the ones in use.
COMPILED = _module is not None
set_commands: Callable[[bytes, list[str], list[bytes]], tuple[list[bytes], list[bytes]]] = (
    python_set_commands if _module is None else _module.set_commands
)
joined_set_commands: Callable[[bytes, list[str], list[bytes]], bytes] = (
    python_joined_set_commands if _module is None else _module.joined_set_commands
)
count_with_prefix: Callable[[list[bytes], bytes], int] = (
    python_count_with_prefix if _module is None else _module.count_with_prefix
)
