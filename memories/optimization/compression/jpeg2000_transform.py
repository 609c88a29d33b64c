"""Which bands get JPEG 2000's component transform, and in which order.

OpenJPEG's decoders invert one component transform: the irreversible colour transform (ICT,
RGB → YCbCr) or, for lossless coding, the reversible one (RCT), always on codestream components
0, 1 and 2 (ISO/IEC 15444-1, annex G; see ``_openjpeg.c`` for why not Part 2's any-band one).
``opj_compress`` applies it to the first three bands whenever there are three or more. On
multispectral scenes it pays to choose: the transform turns three correlated bands into one
"luma" and two nearly empty "chroma" components, and how empty depends on which bands and in
which roles. So the bands are reordered to put the best ordered triple first, and a JP2 Channel
Definition box (:func:`~.jp2_boxes.add_channel_definitions`) tells decoders the original order.

The choice uses a rate model, not trial encodes (an encode costs ~0.5 s per 4 MiB): for a
Gaussian source coded at mean squared error ``D``, a component of variance ``σ²`` costs about
``max(0, ½·log2(σ²·g / D))`` bits per sample, where ``g`` is the energy gain of its synthesis
basis vector (how much of a quantization error in the component reaches the bands). Variances
are those of a high-pass residual (each sample minus the mean of its upper and left
neighbours), since the wavelet spends almost all bits on detail, not on the smooth part. The
triple whose transform lowers the modelled rate most wins; if none lowers it, no transform is
used at all (where ``opj_compress`` would still transform the first three bands).

On the synthetic 8-band scenes of bench/jpeg2000.py the model's ranking of triples correlates
with measured sizes at 0.86 (40 dB) to 0.99 (54 dB); its pick is 11 % smaller than the first
three bands at 40 dB and 3 % at 54 dB (docs/benchmarks/jpeg2000.md).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy

# Forward transforms on (R, G, B) = (component 0, 1, 2); T.800 equations G-5 (ICT) and G-1 (RCT, without floors).
_IRREVERSIBLE = numpy.array([[0.299, 0.587, 0.114], [-0.16875, -0.33126, 0.5], [0.5, -0.41869, -0.08131]])
_REVERSIBLE = numpy.array([[0.25, 0.5, 0.25], [0.0, -1.0, 1.0], [1.0, -1.0, 0.0]])
# Lossless coding has no quantization error: what remains is the entropy of integer samples, which the
# Gaussian model gives as ½·log2(2πe·σ²), i.e. the lossy formula with D = 1 / (2πe).
_LOSSLESS_DISTORTION = 1.0 / (2.0 * math.pi * math.e)
# Enough pixels for stable band covariances; larger images are sampled in strips of this many rows.
_STATISTICS_PIXELS = 1 << 18
_STRIP_ROWS = 32


@dataclass(frozen=True)
class ComponentPlan:
    """How the bands enter the codestream.

    ``order[c]`` is the band stored as codestream component ``c``; ``transform``: whether the
    component transform runs on components 0–2.
    """

    order: tuple[int, ...]
    transform: bool

    @property
    def reordered(self) -> bool:
        """Whether the codestream order differs from the band order (a Channel Definition box is needed)."""
        return self.order != tuple(range(len(self.order)))


def residual_covariance(array: numpy.ndarray[Any, Any]) -> numpy.ndarray[Any, Any]:
    """Return the bands × bands covariance of the high-pass residual of an H×W×bands image.

    Large images are sampled in evenly spaced strips of whole neighbouring rows (at most
    ~2**18 pixels), so the residual still compares adjacent pixels.
    """
    height, width, bands = array.shape
    columns = min(width, _STATISTICS_PIXELS // _STRIP_ROWS)
    strips = max(1, min(height // _STRIP_ROWS, _STATISTICS_PIXELS // (_STRIP_ROWS * columns)))
    if strips * _STRIP_ROWS >= height:
        parts = [array[:, :columns]]
    else:
        starts = numpy.linspace(0, height - _STRIP_ROWS, strips).astype(int)
        parts = [array[start : start + _STRIP_ROWS, :columns] for start in starts]
    residuals = []
    for part in parts:
        samples = part.astype(numpy.float64)
        residuals.append((samples[1:, 1:] - 0.5 * (samples[:-1, 1:] + samples[1:, :-1])).reshape(-1, bands))
    residual = numpy.concatenate(residuals)
    if len(residual) < 2:
        return numpy.zeros((bands, bands))
    return numpy.atleast_2d(numpy.cov(residual, rowvar=False))


def plan_components(covariance: numpy.ndarray[Any, Any], psnr_db: float | None, bit_depth: int) -> ComponentPlan:
    """Return the plan with the lowest modelled rate for bands with this residual ``covariance``.

    ``psnr_db`` is the target (None = lossless) relative to the peak ``2**bit_depth − 1``.
    Fewer than three bands: no transform, bands in order.
    """
    bands = covariance.shape[0]
    identity = tuple(range(bands))
    if bands < 3:
        return ComponentPlan(identity, transform=False)
    if psnr_db is None:
        forward, distortion = _REVERSIBLE, _LOSSLESS_DISTORTION
        gains = numpy.ones(3)
    else:
        forward = _IRREVERSIBLE
        peak = float((1 << bit_depth) - 1)
        distortion = peak * peak / 10.0 ** (psnr_db / 10.0)
        gains = (numpy.linalg.inv(forward) ** 2).sum(axis=0)
    triples = numpy.array(list(itertools.permutations(range(bands), 3)))
    blocks = covariance[triples[:, :, None], triples[:, None, :]]  # (triples, 3, 3)
    transformed = numpy.einsum("ki,nij,kj->nk", forward, blocks, forward)
    original = numpy.diagonal(blocks, axis1=1, axis2=2)
    saving = _modelled_bits(original, numpy.ones(3), distortion) - _modelled_bits(transformed, gains, distortion)
    best = int(numpy.argmax(saving))
    if saving[best] <= 0.0:
        return ComponentPlan(identity, transform=False)
    triple = tuple(int(band) for band in triples[best])
    # Ties (e.g. identical bands) keep opj_compress's choice, the first three in order.
    if saving[best] - saving[0] <= 1e-9 * max(1.0, abs(saving[best])):
        triple = (0, 1, 2)
    rest = tuple(band for band in identity if band not in triple)
    return ComponentPlan(triple + rest, transform=True)


def _modelled_bits(
    variances: numpy.ndarray[Any, Any], gains: numpy.ndarray[Any, Any], distortion: float
) -> numpy.ndarray[Any, Any]:
    """Bits per sample of each row's three components under the Gaussian high-rate model."""
    ratio = numpy.maximum(variances * gains, 1e-300) / distortion
    bits: numpy.ndarray[Any, Any] = numpy.maximum(0.0, 0.5 * numpy.log2(ratio)).sum(axis=1)
    return bits
