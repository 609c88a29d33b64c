"""How cached values become bytes for the disk (L2) and Redis (L3) tiers.

L1 keeps Python objects as they are. Values that leave the process go through this codec,
which never uses pickle (a shared Redis must not be able to run code in its readers):

========  ==========================================================================
tag byte  value
========  ==========================================================================
``B``     ``bytes`` (bytes-like values are stored as ``bytes``), raw
``S``     ``str``, UTF-8 (lone surrogates kept with ``surrogatepass``)
``J``     JSON types (dict with str keys, list, int, float, bool, None) that round-trip
          exactly: tuples, non-str keys, NaN and infinities are refused
``N``     ``numpy.ndarray`` without object dtype, as an ``.npy`` file (``allow_pickle=False``)
========  ==========================================================================

Anything else raises :class:`UnencodableValue` (a ``ValueError``); the cache then keeps the
value in L1 only. Encoded values are then packed: below ``COMPRESSION_THRESHOLD`` bytes as is
(prefix ``0x00``), otherwise as one LZ4 frame (prefix ``0x01``).
"""

from __future__ import annotations

import io
import json

import lz4.frame

from memories.errors import CacheError, CorruptDataError
from memories.optimization.cache.sizing import is_ndarray

COMPRESSION_THRESHOLD = 64
"""Encoded values shorter than this many bytes are stored uncompressed."""

_RAW = b"\x00"
_LZ4 = b"\x01"


class UnencodableValue(CacheError, ValueError):
    """The value has no safe byte encoding, so it can only live in L1."""


def encode(value: object) -> bytes:
    """Return the tagged bytes of ``value``; raises UnencodableValue for unsupported types."""
    if isinstance(value, bytes | bytearray | memoryview):
        return b"B" + bytes(value)
    if isinstance(value, str):
        return b"S" + value.encode("utf-8", "surrogatepass")
    if is_ndarray(value):
        import numpy

        assert isinstance(value, numpy.ndarray)
        if value.dtype.hasobject:
            raise UnencodableValue("numpy arrays of dtype object cannot leave L1 (it would need pickle)")
        buffer = io.BytesIO()
        numpy.save(buffer, value, allow_pickle=False)
        return b"N" + buffer.getvalue()
    if value is None or isinstance(value, dict | list | int | float | bool):
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise UnencodableValue(f"value is not plain JSON: {error}") from None
        if json.loads(text) != value:
            raise UnencodableValue("value does not survive JSON unchanged (tuples or non-str dict keys?)")
        return b"J" + text.encode()
    raise UnencodableValue(f"values of type {type(value).__name__} can only be cached in L1 (no safe encoding)")


def decode(data: bytes) -> object:
    """Return the value of tagged bytes made by :func:`encode`; raises CorruptDataError if malformed."""
    tag, body = data[:1], data[1:]
    try:
        if tag == b"B":
            return body
        if tag == b"S":
            return body.decode("utf-8", "surrogatepass")
        if tag == b"J":
            return json.loads(body)
        if tag == b"N":
            import numpy

            return numpy.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as error:
        raise CorruptDataError(f"cached value does not decode: {error}") from None
    raise CorruptDataError(f"cached value has unknown tag {tag!r}")


def pack(encoded: bytes) -> bytes:
    """Return ``encoded`` compressed with LZ4 (or as is when short), with a one-byte prefix."""
    if len(encoded) < COMPRESSION_THRESHOLD:
        return _RAW + encoded
    compressed: bytes = lz4.frame.compress(encoded, store_size=True)
    return _LZ4 + compressed


def unpack(packed: bytes) -> bytes:
    """Inverse of :func:`pack`; raises CorruptDataError when the data is not a valid packing."""
    prefix, body = packed[:1], packed[1:]
    if prefix == _RAW:
        return body
    if prefix == _LZ4:
        try:
            return bytes(lz4.frame.decompress(body))
        except RuntimeError as error:
            raise CorruptDataError(f"LZ4 frame does not decompress: {error}") from None
    raise CorruptDataError(f"packed value has unknown prefix {prefix!r}")
