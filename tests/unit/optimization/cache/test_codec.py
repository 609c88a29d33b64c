"""Round trips of the value codec and its refusals."""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import CorruptDataError
from memories.optimization.cache.codec import UnencodableValue, decode, encode, pack, unpack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(value=st.binary() | st.text() | json_values)
def test_values_round_trip_through_encode_and_pack(value: object) -> None:
    assert decode(unpack(pack(encode(value)))) == value


def test_bytes_like_values_come_back_as_bytes() -> None:
    assert decode(encode(bytearray(b"abc"))) == b"abc"
    assert decode(encode(memoryview(b"xyz"))) == b"xyz"


def test_numpy_array_round_trips_with_dtype_and_shape() -> None:
    array = numpy.arange(24, dtype=numpy.uint16).reshape(2, 3, 4)
    restored = decode(unpack(pack(encode(array))))
    assert isinstance(restored, numpy.ndarray)
    assert restored.dtype == array.dtype and numpy.array_equal(restored, array)


@pytest.mark.parametrize("value", [object(), (1, 2), {1: "a"}, numpy.array([object()]), {"x": float("nan")}])
def test_values_without_a_safe_encoding_are_refused(value: object) -> None:
    with pytest.raises(UnencodableValue):
        encode(value)


def test_corrupt_lz4_payload_raises() -> None:
    packed = bytearray(pack(encode(b"a" * 1000)))
    packed[-3] ^= 0xFF
    with pytest.raises(CorruptDataError):
        unpack(bytes(packed))


def test_unknown_tag_raises() -> None:
    with pytest.raises(CorruptDataError, match="unknown tag"):
        decode(b"Zdata")
