"""How values are stored in the shared Redis (L3).

``bytes`` values are stored as they are, so any Redis client reads what an agent wrote, an agent reads what any
client wrote, and Redis' own INCR/INCRBY work on them. Every other value the cache can encode (str, JSON types,
numpy arrays; :mod:`memories.optimization.cache.codec`, never pickle) is stored as :data:`MARKER` followed by the
codec's packed bytes — and so is a bytes value that happens to start with the marker, so that reading is never
ambiguous. A value that carries the marker but does not decode (another client's bytes) is returned as bytes.
"""

from __future__ import annotations

from typing import Final

from memories.errors import CorruptDataError
from memories.optimization.cache.codec import decode, encode, pack, unpack
from memories.optimization.cache.remote.encoding import count_with_prefix

#: The first bytes of a value the codec encoded (a NUL, a name, a version, a NUL).
MARKER: Final = b"\x00memories:v1\x00"


def to_remote(value: object) -> bytes:
    """The bytes to store in Redis for ``value``; raises UnencodableValue for values that must stay in L1."""
    if type(value) is bytes and not value.startswith(MARKER):
        return value
    if isinstance(value, bytearray | memoryview) and not bytes(value[: len(MARKER)]).startswith(MARKER):
        return bytes(value)
    return MARKER + pack(encode(value))


def bytes_to_remote(values: list[bytes]) -> list[bytes]:
    """:func:`to_remote` of each of ``values`` (``values`` itself when none starts with the marker: nearly always;
    the caller does not change either list)."""
    if not count_with_prefix(values, MARKER):
        return values
    return [to_remote(value) for value in values]


def from_remote(stored: bytes) -> object:
    """The value of bytes read from Redis (see the module docstring)."""
    if not stored.startswith(MARKER):
        return stored
    try:
        return decode(unpack(stored[len(MARKER) :]))
    except CorruptDataError:
        return stored
