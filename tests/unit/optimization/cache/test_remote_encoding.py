"""A batch of SETs encoded for L3: the compiled ``_encoding.c`` gives what the Python reference in
``remote/encoding.py`` gives (names, commands, the marker count), for any keys, values and prefix, and refuses what
that refuses with the same error."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from memories.optimization.cache.remote import encoding
from memories.optimization.cache.remote.protocol import encode_command
from memories.optimization.cache.remote.values import MARKER, bytes_to_remote, to_remote
from tests.compiled_code import needs_compiled

compiled_only = needs_compiled("the compiled code")

#: Keys as the sidecar decodes them (UTF-8 with surrogateescape: lone surrogates U+DC80-U+DCFF), and others.
escaped = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
keys = st.text(st.characters(codec="utf-8") | escaped, max_size=40)
values = st.binary(max_size=300) | st.builds(lambda size: bytes(size), st.integers(9_990, 100_010))


def compiled() -> ModuleType:
    from memories.optimization.cache.remote import _encoding

    return _encoding


def outcome(function: Any, *arguments: object) -> object:
    """What ``function`` returns, or the type and message of what it raises."""
    try:
        return function(*arguments)
    except Exception as error:
        return type(error), str(error)


@compiled_only
@settings(max_examples=300, deadline=None)
@example(prefix=b"", pairs=[])
@example(prefix=b"p:", pairs=[("\udcff\u00e9\U0001f600", b"")])
@given(prefix=st.binary(max_size=20), pairs=st.lists(st.tuples(keys, values), max_size=12))
def test_set_commands_are_the_python_ones(prefix: bytes, pairs: list[tuple[str, bytes]]) -> None:
    names = [key for key, _value in pairs]
    datas = [value for _key, value in pairs]
    expected = encoding.python_set_commands(prefix, names, datas)
    assert compiled().set_commands(prefix, names, datas) == expected
    for name, command, value in zip(*expected, datas, strict=True):
        assert command == encode_command(b"SET", name, value)  # the one encoding of a command
    joined = encoding.python_joined_set_commands(prefix, names, datas)
    assert joined == b"".join(expected[1])
    assert compiled().joined_set_commands(prefix, names, datas) == joined


@compiled_only
def test_keys_that_utf8_cannot_encode_are_refused_as_python_refuses_them() -> None:
    for key in ["\ud800", "ok\udc7f"]:  # surrogates surrogateescape does not map back to bytes
        arguments = (b"p:", ["fine", key], [b"v", b"w"])
        python = outcome(encoding.python_set_commands, *arguments)
        assert isinstance(python, tuple) and python[0] is UnicodeEncodeError
        assert outcome(compiled().set_commands, *arguments) == python
        assert outcome(encoding.python_joined_set_commands, *arguments) == python
        assert outcome(compiled().joined_set_commands, *arguments) == python


@compiled_only
def test_wrong_arguments_are_refused() -> None:
    module = compiled()
    for function in [module.set_commands, module.joined_set_commands]:
        refuses_wrong_arguments(function)
    count: Any = module.count_with_prefix
    for arguments in [((b"v",), MARKER), ([b"v"], "marker"), (["v"], MARKER), ([b"v"],)]:
        with pytest.raises(TypeError):
            count(*arguments)


def refuses_wrong_arguments(function: Any) -> None:
    for arguments in [
        ("p:", ["k"], [b"v"]),
        (b"p:", ("k",), [b"v"]),
        (b"p:", ["k"], [b"v", b"w"]),
        (b"p:", [1], [b"v"]),
        (b"p:", ["k"], ["v"]),
        (b"p:", ["k"]),
    ]:
        with pytest.raises((TypeError, ValueError)):
            function(*arguments)


@compiled_only
@settings(max_examples=300, deadline=None)
@given(
    prefix=st.binary(max_size=16),
    datas=st.lists(st.binary(max_size=24) | st.builds(lambda tail: MARKER + tail, st.binary(max_size=8)), max_size=10),
)
def test_count_with_prefix_is_the_python_count(prefix: bytes, datas: list[bytes]) -> None:
    assert compiled().count_with_prefix(datas, prefix) == encoding.python_count_with_prefix(datas, prefix)


@given(st.lists(st.binary(max_size=24) | st.builds(lambda tail: MARKER + tail, st.binary(max_size=8)), max_size=10))
def test_bytes_to_remote_marks_exactly_the_values_to_remote_marks(datas: list[bytes]) -> None:
    assert bytes_to_remote(datas) == [to_remote(value) for value in datas]


@compiled_only
def test_the_compiled_functions_are_the_ones_in_use() -> None:
    assert encoding.COMPILED
    assert encoding.set_commands is compiled().set_commands
    assert encoding.joined_set_commands is compiled().joined_set_commands
    assert encoding.count_with_prefix is compiled().count_with_prefix
