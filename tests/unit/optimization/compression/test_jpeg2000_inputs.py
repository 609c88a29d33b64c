"""Validation of what callers pass to compress_images."""

from __future__ import annotations

from typing import Any

import numpy
import pytest

from memories.errors import ConfigError
from memories.optimization.compression.jpeg2000_inputs import ImageInput, normalize_images


def test_single_array_is_a_batch_of_one() -> None:
    assert len(normalize_images(numpy.zeros((8, 8), numpy.uint8))) == 1


def test_list_keeps_order() -> None:
    first, second = numpy.zeros((4, 4), numpy.uint8), numpy.ones((4, 4), numpy.uint8)
    images = normalize_images([first, second])
    assert [int(image.array[0, 0]) for image in images] == [0, 1]


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.int16, numpy.uint32, numpy.bool_])
def test_unsupported_dtype_is_rejected_by_name(dtype: Any) -> None:
    with pytest.raises(ConfigError, match=rf"images\[0\]: dtype {numpy.dtype(dtype)}"):
        normalize_images(numpy.zeros((4, 4), dtype))


@pytest.mark.parametrize("shape", [(4,), (2, 4, 4, 3), (0, 4), (4, 4, 0)])
def test_non_image_shape_is_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="shape"):
        normalize_images(numpy.zeros(shape, numpy.uint8))


def test_unsupported_item_type_names_the_item() -> None:
    with pytest.raises(ConfigError, match=r"images\[1\].*bytes"):
        normalize_images([numpy.zeros((4, 4), numpy.uint8), b"raw"])


def test_band_name_count_must_match_bands() -> None:
    with pytest.raises(ConfigError, match="2 band_names given for an image with 3 band"):
        normalize_images(ImageInput(data=numpy.zeros((4, 4, 3), numpy.uint8), band_names=["a", "b"]))


def test_dict_with_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'data' key"):
        normalize_images({"data": numpy.zeros((4, 4), numpy.uint8), "bands": ["a"]})


def test_georeference_must_be_json_serializable() -> None:
    with pytest.raises(ConfigError, match="JSON-serializable"):
        normalize_images({"data": numpy.zeros((4, 4), numpy.uint8), "georeference": {"crs": object()}})


def test_bit_depth_must_hold_the_largest_sample() -> None:
    with pytest.raises(ConfigError, match="bit_depth 12 is too small"):
        normalize_images(ImageInput(data=numpy.full((4, 4), 5000, numpy.uint16), bit_depth=12))


def test_bit_depth_cannot_exceed_the_dtype() -> None:
    with pytest.raises(ConfigError, match="from 1 to 8"):
        normalize_images(ImageInput(data=numpy.zeros((4, 4), numpy.uint8), bit_depth=12))


def test_bit_depth_defaults_to_the_dtype_width() -> None:
    (image,) = normalize_images(numpy.zeros((4, 4, 2), numpy.uint16))
    assert image.bit_depth == 16
