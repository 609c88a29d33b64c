"""The JP2 XML metadata box."""

from __future__ import annotations

import struct
from typing import Any

import imagecodecs
import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import CorruptDataError
from memories.optimization.compression.jpeg2000_metadata import insert_metadata_box, read_metadata_box

PLAIN_JP2 = bytes(imagecodecs.jpeg2k_encode(numpy.arange(64, dtype=numpy.uint8).reshape(8, 8), codecformat="jp2"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(metadata=st.dictionaries(st.text(), json_values, max_size=5))
def test_metadata_round_trips_through_the_box(metadata: dict[str, Any]) -> None:
    assert read_metadata_box(insert_metadata_box(PLAIN_JP2, metadata)) == metadata


def test_box_is_placed_before_the_codestream_and_image_still_decodes() -> None:
    jp2 = insert_metadata_box(PLAIN_JP2, {"crs": "EPSG:4326"})
    assert jp2.index(b"xml ") < jp2.index(b"jp2c")
    numpy.testing.assert_array_equal(imagecodecs.jpeg2k_decode(jp2), imagecodecs.jpeg2k_decode(PLAIN_JP2))


def test_file_without_our_box_has_no_metadata() -> None:
    assert read_metadata_box(PLAIN_JP2) is None


def test_foreign_xml_box_is_ignored() -> None:
    foreign = b"<gml:FeatureCollection xmlns:gml='http://www.opengis.net/gml'/>"
    jp2 = PLAIN_JP2 + struct.pack(">I4s", 8 + len(foreign), b"xml ") + foreign
    assert read_metadata_box(jp2) is None


def test_box_with_a_length_past_the_end_is_corrupt() -> None:
    jp2 = PLAIN_JP2 + struct.pack(">I4s", 1000, b"xml ")
    with pytest.raises(CorruptDataError, match="invalid length"):
        read_metadata_box(jp2)


def test_inserting_into_a_non_jp2_raises() -> None:
    with pytest.raises(CorruptDataError, match="jp2c"):
        insert_metadata_box(struct.pack(">I4s", 8, b"free"), {})
