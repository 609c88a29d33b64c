"""Lossy (or lossless) JPEG 2000 compression of image batches, as satellite imagery comes.

:class:`Jpeg2000Codec` encodes each image of a batch to a standard JP2 file with OpenJPEG
(through ``imagecodecs``); any JP2 reader, e.g. ``opj_decompress``, decodes them.

* Inputs: see :mod:`memories.optimization.compression.jpeg2000_inputs` — uint8/uint16 arrays
  H×W or H×W×bands (any band count), image file paths, or :class:`ImageInput` / dicts adding
  ``band_names``, ``georeference`` and ``bit_depth``.
* ``quality`` 0–100 maps to a target PSNR of ``20 + 0.4 × quality`` dB; 100 is lossless. The
  default (no quality, no target_size) is 85, i.e. 54 dB. See
  :mod:`memories.optimization.compression.jpeg2000_rate`.
* ``target_size`` is a ceiling **per image**, in bytes (the whole stored JP2 file, metadata box
  included): each image gets the highest quality ≤ ``quality`` whose file fits. Per image,
  because scenes are stored and served one file each, and a batch-wide budget would make one
  scene's quality depend on how many others happened to be in the same call.
* Metadata: dtype, shape and bit depth are always kept (decoding needs them). With
  ``preserve_metadata=True`` band names and georeferencing are kept too, and all of it is also
  written into the JP2 file itself as an XML box (see
  :mod:`memories.optimization.compression.jpeg2000_metadata`), so a lone ``.jp2`` stays
  self-describing; :func:`read_jp2_metadata` reads it back.
* Each image reports its achieved PSNR (lossy: measured by decoding, relative to ``2**bit_depth − 1``)
  and ratio; the batch reports the overall ratio and the sample-weighted overall PSNR.
* The batch is a sequence of :class:`EncodedImage`: ``len``, iteration, indexing, slicing.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import imagecodecs
import numpy

from memories.errors import ConfigError, CorruptDataError
from memories.optimization.compression.jpeg2000_encoder import ImageEncoder
from memories.optimization.compression.jpeg2000_inputs import ImageInput, ValidatedImage, normalize_images
from memories.optimization.compression.jpeg2000_metadata import insert_metadata_box, read_metadata_box
from memories.optimization.compression.jpeg2000_rate import (
    DEFAULT_QUALITY,
    LOSSLESS_QUALITY,
    encode_within_size,
    peak_signal_to_noise_ratio,
    quality_to_psnr,
)
from memories.units import Size, parse_size

__all__ = ["CompressedImages", "EncodedImage", "ImageInput", "Jpeg2000Codec", "read_jp2_metadata"]

read_jp2_metadata = read_metadata_box

# Container: magic | count (u32) | per image: entry header | metadata JSON | JP2 bytes. Little endian.
_MAGIC = b"MEMJP2\x00\x01"
_COUNT = struct.Struct("<I")
_ENTRY = struct.Struct("<dQQII")  # psnr_db, original_size, jp2 length, crc32(jp2), metadata JSON length


@dataclass(frozen=True)
class EncodedImage:
    """One image encoded as a standard JP2 file.

    ``jp2``: the file's bytes. ``psnr_db``: achieved PSNR in dB (``math.inf`` when lossless).
    ``original_size``: bytes of the raw array. ``metadata``: ``dtype``, ``shape``, ``bit_depth``
    and, when preserved, ``band_names`` and ``georeference``.
    """

    jp2: bytes
    psnr_db: float
    original_size: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def compressed_size(self) -> int:
        """Bytes of the JP2 file."""
        return len(self.jp2)

    @property
    def ratio(self) -> float:
        """original_size / compressed_size."""
        return self.original_size / len(self.jp2)

    @property
    def samples(self) -> int:
        """Number of samples (pixels × bands)."""
        return math.prod(self.metadata["shape"])


@dataclass(frozen=True)
class CompressedImages(Sequence[EncodedImage]):
    """A batch of JP2-encoded images, in input order: a sequence of :class:`EncodedImage`.

    ``batch[i]`` is one image, ``batch[i:j]`` a smaller batch; ``images`` is the same list.
    """

    images: list[EncodedImage]

    def __len__(self) -> int:
        return len(self.images)

    @overload
    def __getitem__(self, index: int) -> EncodedImage: ...

    @overload
    def __getitem__(self, index: slice) -> CompressedImages: ...

    def __getitem__(self, index: int | slice) -> EncodedImage | CompressedImages:
        if isinstance(index, slice):
            return CompressedImages(images=self.images[index])
        return self.images[index]

    def __iter__(self) -> Iterator[EncodedImage]:
        return iter(self.images)

    @property
    def compressed_size(self) -> int:
        """Total bytes of all JP2 files."""
        return sum(image.compressed_size for image in self.images)

    @property
    def original_size(self) -> int:
        """Total bytes of all raw arrays."""
        return sum(image.original_size for image in self.images)

    @property
    def ratio(self) -> float:
        """Overall original_size / compressed_size (1.0 for an empty batch)."""
        return self.original_size / self.compressed_size if self.images else 1.0

    @property
    def psnr_db(self) -> float:
        """Overall PSNR in dB: the per-image normalized errors averaged over all samples.

        ``math.inf`` when every image is lossless or the batch is empty.
        """
        total_samples = sum(image.samples for image in self.images)
        normalized_error = sum(image.samples * 10.0 ** (-image.psnr_db / 10.0) for image in self.images)
        if normalized_error == 0.0:
            return math.inf
        return -10.0 * math.log10(normalized_error / total_samples)

    def to_bytes(self) -> bytes:
        """Serialize the batch (JP2 files, PSNRs, sizes, metadata) with a CRC-32 per image."""
        parts = [_MAGIC, _COUNT.pack(len(self.images))]
        for image in self.images:
            metadata_json = json.dumps(image.metadata, sort_keys=True).encode()
            parts.append(
                _ENTRY.pack(
                    image.psnr_db, image.original_size, len(image.jp2), zlib.crc32(image.jp2), len(metadata_json)
                )
            )
            parts += [metadata_json, image.jp2]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CompressedImages:
        """Parse :meth:`to_bytes` output.

        Raises CorruptDataError (naming the image) on a wrong magic, truncation, a CRC mismatch,
        bad metadata or trailing bytes.
        """
        buffer = bytes(data)
        if not buffer.startswith(_MAGIC):
            raise CorruptDataError("not a CompressedImages container (bad magic or version)")
        offset = len(_MAGIC)
        (count,) = _unpack(_COUNT, buffer, offset, "header")
        offset += _COUNT.size
        images = []
        for index in range(count):
            location = f"image {index}"
            psnr_db, original_size, jp2_length, checksum, metadata_length = _unpack(_ENTRY, buffer, offset, location)
            offset += _ENTRY.size
            end = offset + metadata_length + jp2_length
            if end > len(buffer):
                raise CorruptDataError("container truncated", location=location)
            metadata = _parse_metadata(buffer[offset : offset + metadata_length], location)
            jp2 = buffer[offset + metadata_length : end]
            if zlib.crc32(jp2) != checksum:
                raise CorruptDataError("JP2 bytes fail their CRC-32", location=location)
            images.append(EncodedImage(jp2=jp2, psnr_db=psnr_db, original_size=original_size, metadata=metadata))
            offset = end
        if offset != len(buffer):
            raise CorruptDataError(f"{len(buffer) - offset} unexpected bytes after the last image")
        return cls(images=images)


def _unpack(layout: struct.Struct, buffer: bytes, offset: int, location: str) -> tuple[Any, ...]:
    if offset + layout.size > len(buffer):
        raise CorruptDataError("container truncated", location=location)
    return layout.unpack_from(buffer, offset)


def _parse_metadata(raw: bytes, location: str) -> dict[str, Any]:
    try:
        metadata = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptDataError(f"metadata is not valid JSON: {error}", location=location) from None
    if not isinstance(metadata, dict) or not {"dtype", "shape"} <= metadata.keys():
        raise CorruptDataError("metadata lacks dtype/shape", location=location)
    return metadata


class Jpeg2000Codec:
    """Encode batches of images to JP2 files and decode them back.

    ``quality``: 0–100 (100 = lossless), see the module docstring; None means 85, or, when
    ``target_size`` is set, the best quality that fits. ``target_size``: per-image ceiling in
    bytes (int or a size string such as ``"10MB"``), or None. ``workers``: OpenJPEG threads per
    image (default: all cores). Raises ConfigError for invalid settings.
    """

    def __init__(
        self, quality: int | None = None, target_size: Size | None = None, *, workers: int | None = None
    ) -> None:
        self.target_size = (
            None if target_size is None else parse_size(target_size, field="target_size", allow_zero=False)
        )
        if quality is None:
            quality = DEFAULT_QUALITY if self.target_size is None else LOSSLESS_QUALITY
        self.psnr_ceiling_db = quality_to_psnr(quality)
        self.quality = quality
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers: expected a positive int, got {workers!r}")
        self.threads = workers or os.cpu_count() or 1

    def encode(self, images: object, preserve_metadata: bool = True) -> CompressedImages:
        """Encode one image or a batch (see the module docstring for accepted forms).

        Raises ConfigError for invalid images, or when an image cannot fit ``target_size``.
        """
        encoded = [
            self._encode_one(image, preserve_metadata, f"images[{index}]")
            for index, image in enumerate(normalize_images(images))
        ]
        return CompressedImages(images=encoded)

    def _encode_one(self, image: ValidatedImage, preserve_metadata: bool, label: str) -> EncodedImage:
        metadata = image.metadata(preserve=preserve_metadata)

        def finish(jp2: bytes) -> bytes:
            return insert_metadata_box(jp2, metadata) if preserve_metadata else jp2

        encoder = ImageEncoder(image, threads=self.threads)
        jp2, psnr_target_db = encode_within_size(encoder, self.psnr_ceiling_db, self.target_size, finish, label=label)
        # Reversible coding is exact by construction (the round-trip tests check it); lossy PSNR is measured.
        if psnr_target_db is None:
            psnr_db = math.inf
        else:
            psnr_db = peak_signal_to_noise_ratio(image.array, _decode_array(jp2, metadata, label), image.bit_depth)
        return EncodedImage(
            jp2=jp2,
            psnr_db=psnr_db,
            original_size=image.array.nbytes,
            metadata=metadata,
        )

    def decode(self, compressed: CompressedImages) -> list[numpy.ndarray[Any, Any]]:
        """Return the images as arrays with their original dtype and shape, in order.

        Raises CorruptDataError (naming the image) when a JP2 file cannot be decoded or does not
        match its recorded shape.
        """
        return [
            _decode_array(image.jp2, image.metadata, f"image {index}") for index, image in enumerate(compressed.images)
        ]


def _decode_array(jp2: bytes, metadata: dict[str, Any], location: str) -> numpy.ndarray[Any, Any]:
    shape = tuple(int(size) for size in metadata["shape"])
    try:
        decoded = numpy.asarray(imagecodecs.jpeg2k_decode(jp2))
    except Exception as error:  # imagecodecs.Jpeg2kError and OpenJPEG failures
        raise CorruptDataError(f"JP2 cannot be decoded: {error}", location=location) from None
    if decoded.size != math.prod(shape):
        raise CorruptDataError(f"decoded {decoded.shape} does not match the recorded shape {shape}", location=location)
    return decoded.reshape(shape).astype(numpy.dtype(metadata["dtype"]), copy=False)
