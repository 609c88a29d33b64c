"""Encoding one image to a JP2 file at a PSNR target: the compiled OpenJPEG binding, or imagecodecs.

With the ``_openjpeg`` extension (built from ``_openjpeg.c`` when libopenjp2's headers are
installed), bands are reordered and the component transform is applied as
:mod:`~memories.optimization.compression.jpeg2000_transform` plans, for any band count of three
or more. Without it (or with ``MEMORIES_PURE_PYTHON=1`` in the environment), imagecodecs encodes
and can only transform exactly three bands: files stay standard and readable, but scenes with four
bands or more come out larger (docs/jpeg2000.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import imagecodecs
import numpy

from memories.optimization.compression.jp2_boxes import add_channel_definitions
from memories.optimization.compression.jpeg2000_inputs import ValidatedImage
from memories.optimization.compression.jpeg2000_transform import ComponentPlan, plan_components, residual_covariance

try:
    from memories.optimization.compression import _openjpeg
except ImportError:  # built without libopenjp2's headers
    _openjpeg = None  # type: ignore[assignment]

# The interface is _openjpeg.pyi's.
COMPILED_ENCODER = None if os.environ.get("MEMORIES_PURE_PYTHON") else _openjpeg


class ImageEncoder:
    """Encodes one image at any PSNR target (None = lossless), without extra boxes.

    The band statistics behind the component plan are computed once, so rate control can
    call :meth:`encode` repeatedly. ``threads``: OpenJPEG worker threads.
    """

    def __init__(self, image: ValidatedImage, *, threads: int | None = None) -> None:
        self.image = image
        self.threads = threads or os.cpu_count() or 1
        self._bands = image.array.reshape(image.array.shape[0], image.array.shape[1], image.bands)
        self._covariance = residual_covariance(self._bands) if COMPILED_ENCODER and image.bands >= 3 else None

    def plan(self, psnr_db: float | None) -> ComponentPlan:
        """The component order and transform used at ``psnr_db`` (identity when imagecodecs encodes)."""
        if self._covariance is None:
            return ComponentPlan(tuple(range(self.image.bands)), transform=self.image.bands == 3)
        return plan_components(self._covariance, psnr_db, self.image.bit_depth)

    def encode(self, psnr_db: float | None) -> bytes:
        """Return the image as a JP2 file at the target PSNR in dB (None = lossless)."""
        if COMPILED_ENCODER is None:
            return _encode_with_imagecodecs(self.image, psnr_db, self.threads)
        plan = self.plan(psnr_db)
        samples = numpy.ascontiguousarray(self._bands[:, :, list(plan.order)]) if plan.reordered else self._bands
        height, width, bands = samples.shape
        jp2 = COMPILED_ENCODER.encode(
            samples,
            height,
            width,
            bands,
            samples.dtype.itemsize,
            self.image.bit_depth,
            0.0 if psnr_db is None else psnr_db,
            plan.transform,
            self.threads,
        )
        return add_channel_definitions(jp2, plan.order) if plan.reordered else jp2


def _encode_with_imagecodecs(image: ValidatedImage, psnr_db: float | None, threads: int) -> bytes:
    # The stub types `level` as int, but OpenJPEG's fixed-quality target is a float in dB; fractions matter
    # to rate control (checked: 40.0, 40.3 and 40.6 dB give three different sizes).
    encode: Callable[..., Any] = imagecodecs.jpeg2k_encode
    encoded = encode(
        image.array,
        level=psnr_db,
        codecformat="jp2",
        reversible=psnr_db is None,
        bitspersample=image.bit_depth,
        mct=image.bands == 3,
        numthreads=threads,
    )
    return bytes(encoded)
