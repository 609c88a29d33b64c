"""Turning what callers pass to ``compress_images`` into validated images.

Accepted forms, alone or in a list/tuple (one batch):

* a numpy array, H×W (one band) or H×W×bands, dtype uint8 or uint16, any number of bands;
* a path (``str`` or ``os.PathLike``) to an image file any ``imagecodecs.imread`` reader
  understands (TIFF, PNG, JP2, ...), giving such an array;
* an :class:`ImageInput`, or a dict with the same keys (``{"data": array_or_path,
  "band_names": [...], "georeference": {...}, "bit_depth": 12}``), to attach metadata.

Anything else raises :class:`memories.errors.ConfigError` naming the image and the problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import imagecodecs
import numpy

from memories.errors import ConfigError

SUPPORTED_DTYPES = (numpy.dtype(numpy.uint8), numpy.dtype(numpy.uint16))
_INPUT_KEYS = frozenset({"data", "band_names", "georeference", "bit_depth"})


@dataclass(frozen=True)
class ImageInput:
    """One image plus the metadata to keep with it.

    ``data``: H×W or H×W×bands uint8/uint16 array, or a path to an image file.
    ``band_names``: one name per band (e.g. ``["B02", "B03", "B04", "B08"]``), optional.
    ``georeference``: any JSON-serializable dict, e.g. ``{"crs": "EPSG:32633",
    "transform": [10.0, 0.0, 399960.0, 0.0, -10.0, 5000040.0]}``, optional.
    ``bit_depth``: significant bits per sample (e.g. 12 for 12-bit sensors stored in
    uint16); defaults to the dtype's width. It sets the PSNR peak (2**bit_depth − 1) and
    the precision written in the JP2 header.
    """

    data: numpy.ndarray[Any, Any] | str | os.PathLike[str]
    band_names: Sequence[str] | None = None
    georeference: Mapping[str, Any] | None = None
    bit_depth: int | None = None


@dataclass(frozen=True)
class ValidatedImage:
    """An image checked for dtype, shape, band names and bit depth (internal)."""

    array: numpy.ndarray[Any, Any]
    band_names: list[str] | None
    georeference: dict[str, Any] | None
    bit_depth: int

    @property
    def bands(self) -> int:
        return 1 if self.array.ndim == 2 else int(self.array.shape[2])

    def metadata(self, *, preserve: bool) -> dict[str, Any]:
        """dtype, shape and bit depth always; band names and georeference when ``preserve``."""
        metadata: dict[str, Any] = {
            "dtype": self.array.dtype.name,
            "shape": list(self.array.shape),
            "bit_depth": self.bit_depth,
        }
        if preserve:
            metadata["band_names"] = self.band_names
            metadata["georeference"] = self.georeference
        return metadata


def _is_single_item(images: object) -> bool:
    return isinstance(images, numpy.ndarray | str | os.PathLike | ImageInput | Mapping)


def normalize_images(images: object) -> list[ValidatedImage]:
    """Return the batch as validated images, in order.

    Raises ConfigError for unsupported types, dtypes, shapes, band-name counts, bit depths,
    non-JSON georeferencing, or unreadable files (the message says which image).
    """
    if _is_single_item(images):
        items: Sequence[object] = [images]
    elif isinstance(images, list | tuple):
        items = images
    else:
        raise ConfigError(
            "images: expected a numpy array, an image file path, an ImageInput/dict, or a list of them, "
            f"got {type(images).__name__}"
        )
    return [_validate_item(item, f"images[{index}]") for index, item in enumerate(items)]


def _as_image_input(item: object, label: str) -> ImageInput:
    if isinstance(item, ImageInput):
        return item
    if isinstance(item, Mapping):
        unknown = set(item) - _INPUT_KEYS
        if unknown or "data" not in item:
            raise ConfigError(
                f"{label}: an image dict needs a 'data' key and only {sorted(_INPUT_KEYS)}, got keys {sorted(item)}"
            )
        return ImageInput(**dict(item))
    if isinstance(item, numpy.ndarray | str | os.PathLike):
        return ImageInput(data=item)
    raise ConfigError(
        f"{label}: expected a numpy array, an image file path or an ImageInput/dict, got {type(item).__name__}"
    )


def _load_array(data: object, label: str) -> numpy.ndarray[Any, Any]:
    if isinstance(data, numpy.ndarray):
        return data
    if isinstance(data, str | os.PathLike):
        try:
            loaded = imagecodecs.imread(os.fspath(data))
        except FileNotFoundError:
            raise ConfigError(f"{label}: image file {os.fspath(data)!r} does not exist") from None
        except Exception as error:  # imagecodecs raises many codec-specific types
            raise ConfigError(f"{label}: cannot read image file {os.fspath(data)!r}: {error}") from None
        return numpy.asarray(loaded)
    raise ConfigError(f"{label}: 'data' must be a numpy array or an image file path, got {type(data).__name__}")


def _validate_item(item: object, label: str) -> ValidatedImage:
    image_input = _as_image_input(item, label)
    array = _load_array(image_input.data, label)
    if array.dtype not in SUPPORTED_DTYPES:
        raise ConfigError(f"{label}: dtype {array.dtype} is not supported; use uint8 or uint16")
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ConfigError(f"{label}: shape {array.shape} is not an image; expected H×W or H×W×bands with no empty axis")
    return ValidatedImage(
        array=numpy.ascontiguousarray(array),
        band_names=_validate_band_names(image_input.band_names, array, label),
        georeference=_validate_georeference(image_input.georeference, label),
        bit_depth=_validate_bit_depth(image_input.bit_depth, array, label),
    )


def _validate_band_names(
    band_names: Sequence[str] | None, array: numpy.ndarray[Any, Any], label: str
) -> list[str] | None:
    if band_names is None:
        return None
    bands = 1 if array.ndim == 2 else array.shape[2]
    if isinstance(band_names, str) or not all(isinstance(name, str) for name in band_names):
        raise ConfigError(f"{label}: band_names must be a list of strings, got {band_names!r}")
    if len(band_names) != bands:
        raise ConfigError(f"{label}: {len(band_names)} band_names given for an image with {bands} band(s)")
    return list(band_names)


def _validate_georeference(georeference: Mapping[str, Any] | None, label: str) -> dict[str, Any] | None:
    if georeference is None:
        return None
    if not isinstance(georeference, Mapping):
        raise ConfigError(f"{label}: georeference must be a dict, got {type(georeference).__name__}")
    try:
        # Keep exactly what storage will give back (tuples become lists), and fail now, not at encode time.
        round_tripped: dict[str, Any] = json.loads(json.dumps(dict(georeference), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{label}: georeference must be JSON-serializable: {error}") from None
    return round_tripped


def _validate_bit_depth(bit_depth: int | None, array: numpy.ndarray[Any, Any], label: str) -> int:
    dtype_bits = int(array.dtype.itemsize) * 8
    if bit_depth is None:
        return dtype_bits
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, int) or not 1 <= bit_depth <= dtype_bits:
        raise ConfigError(
            f"{label}: bit_depth must be an int from 1 to {dtype_bits} for {array.dtype}, got {bit_depth!r}"
        )
    largest = int(array.max())
    if largest >= 1 << bit_depth:
        raise ConfigError(f"{label}: bit_depth {bit_depth} is too small for the largest sample value {largest}")
    return bit_depth
