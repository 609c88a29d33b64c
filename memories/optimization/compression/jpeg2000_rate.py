"""Quality mapping, PSNR measurement and size-targeted rate control for JPEG 2000.

Quality → target PSNR (decibels, relative to the peak 2**bit_depth − 1, i.e. 255 for uint8
and 65535 for uint16 unless a smaller ``bit_depth`` is given):

* ``quality = 100``: lossless (reversible 5/3 wavelet); PSNR is infinite.
* ``quality = q`` in 0–99: irreversible 9/7 wavelet, OpenJPEG fixed-quality mode with a target
  of ``20 + 0.4 × q`` dB — 20 dB at 0 (coarse preview), 40 dB at 50 (good visual quality), 54 dB
  at the seed's 85 (well below the noise of most sensors) and 59.6 dB at 99.

A fixed dB scale relative to full scale is used for every bit depth so one quality means the same
error as a fraction of the sensor's range whatever the container type.

Rate control (``target_size``, bytes per image): the file is first encoded at the quality's PSNR;
if it is larger than the target, a bracketed search on the PSNR target between
:data:`MINIMUM_PSNR_DB` and that PSNR (guided by the 6.02 dB-per-bit rate–distortion rule, typically 3–6 encodes) keeps the best
encoding measured to fit, stopping once it is within :data:`PSNR_TOLERANCE_DB` of the largest
PSNR that fits or uses ≥ 97 % of the target. The returned file is always ≤ the target because only measured sizes
are accepted; when even the minimum-PSNR file is larger, ConfigError is raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy

from memories.errors import ConfigError
from memories.optimization.compression.jpeg2000_encoder import ImageEncoder
from memories.optimization.compression.jpeg2000_inputs import ValidatedImage

LOSSLESS_QUALITY = 100
DEFAULT_QUALITY = 85
MINIMUM_PSNR_DB = 1.0
PSNR_TOLERANCE_DB = 0.1
SIZE_TOLERANCE = 0.97
DECIBELS_PER_BIT = 6.02
MAXIMUM_GUESSES = 8


def quality_to_psnr(quality: int) -> float | None:
    """Return the target PSNR in dB for ``quality`` (0–100), or None for lossless (100).

    Raises ConfigError when quality is not an int from 0 to 100.
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= LOSSLESS_QUALITY:
        raise ConfigError(f"quality: expected an int from 0 to 100, got {quality!r}")
    if quality == LOSSLESS_QUALITY:
        return None
    return 20.0 + 0.4 * quality


def peak_signal_to_noise_ratio(
    original: numpy.ndarray[Any, Any], decoded: numpy.ndarray[Any, Any], bit_depth: int
) -> float:
    """Return the PSNR in dB of ``decoded`` against ``original`` over all samples of all bands.

    The peak is ``2**bit_depth − 1``; identical arrays give ``math.inf``.
    """
    difference = original.astype(numpy.float64) - decoded.reshape(original.shape).astype(numpy.float64)
    mean_squared_error = float(numpy.mean(difference * difference))
    if mean_squared_error == 0.0:
        return math.inf
    peak = float((1 << bit_depth) - 1)
    return 10.0 * math.log10(peak * peak / mean_squared_error)


class SizedEncoding(NamedTuple):
    """A finished JP2 file and the PSNR target it was coded at (None: lossless)."""

    jp2: bytes
    psnr_target_db: float | None


def encode_within_size(
    encoder: ImageEncoder,
    psnr_ceiling_db: float | None,
    target_size: int | None,
    finish: Callable[[bytes], bytes],
    *,
    label: str,
) -> SizedEncoding:
    """Return the finished JP2 at the highest PSNR ≤ ``psnr_ceiling_db`` whose length fits ``target_size``.

    ``finish`` adds what the stored file carries beyond the codestream (the metadata box) so
    its bytes count against the target. ``target_size`` None means no limit. Raises ConfigError,
    naming ``label``, when the lowest quality still exceeds ``target_size`` bytes.
    """

    image = encoder.image

    def attempt(psnr_db: float | None) -> bytes:
        return finish(encoder.encode(psnr_db))

    first = attempt(psnr_ceiling_db)
    if target_size is None or len(first) <= target_size:
        return SizedEncoding(first, psnr_ceiling_db)
    smallest = attempt(MINIMUM_PSNR_DB)
    if len(smallest) > target_size:
        raise ConfigError(
            f"target_size: {label} ({'×'.join(map(str, image.array.shape))} {image.array.dtype}) cannot fit in "
            f"{target_size} bytes; its smallest JPEG 2000 encoding is {len(smallest)} bytes"
        )
    return _search_below(attempt, target_size, smallest, psnr_ceiling_db, first, image)


def _search_below(
    attempt: Callable[[float], bytes],
    target_size: int,
    smallest: bytes,
    psnr_ceiling_db: float | None,
    oversized: bytes,
    image: ValidatedImage,
) -> SizedEncoding:
    """Bracket search on the PSNR target: ``low`` always fits, ``high`` never does.

    The first guess follows the high-rate rule of thumb (each bit per sample is worth 6.02 dB)
    from the oversized encoding; then the Illinois variant of regula falsi on log(size / target),
    which converges fast however convex the size curve is near its knee, bounded by
    :data:`MAXIMUM_GUESSES` after which bisection takes over.
    """
    best, best_psnr_db = smallest, MINIMUM_PSNR_DB
    low, low_error = MINIMUM_PSNR_DB, math.log(len(smallest) / target_size)
    # Above ~6.02 dB per bit plus a margin, irreversible coding is as good as lossless.
    high = psnr_ceiling_db if psnr_ceiling_db is not None else 6.02 * image.bit_depth + 12.0
    high_error = math.log(len(oversized) / target_size)
    guess = high - DECIBELS_PER_BIT * 8.0 * (len(oversized) - target_size) / image.array.size
    guesses, last_side = 0, ""
    while high - low > PSNR_TOLERANCE_DB and len(best) < SIZE_TOLERANCE * target_size:
        if guesses >= MAXIMUM_GUESSES:
            guess = (low + high) / 2.0
        elif guesses > 0:
            guess = (low * high_error - high * low_error) / (high_error - low_error)
        guess = min(max(guess, low + PSNR_TOLERANCE_DB / 2.0), high - PSNR_TOLERANCE_DB / 2.0)
        guesses += 1
        candidate = attempt(guess)
        error = math.log(len(candidate) / target_size)
        if error <= 0.0:
            best, best_psnr_db, low, low_error = candidate, guess, guess, error
            high_error = high_error / 2.0 if last_side == "low" else high_error
            last_side = "low"
        else:
            high, high_error = guess, error
            low_error = low_error / 2.0 if last_side == "high" else low_error
            last_side = "high"
    return SizedEncoding(best, best_psnr_db)
