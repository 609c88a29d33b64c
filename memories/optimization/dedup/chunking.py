"""Where an input is cut into blocks: fixed-size blocks or FastCDC content-defined chunks.

Both functions return the *end offsets* of the chunks (a strictly increasing ``numpy.int64``
array whose last element is the input length; empty for an empty input).

Content-defined chunking follows FastCDC (Xia et al., USENIX ATC 2016 / IEEE TPDS 2020):

* the gear rolling hash ``h = (h << 1) + GEAR[byte]``, here on 32-bit words, so ``h`` at a
  position depends only on the previous 32 bytes;
* normalized chunking, level 2: between ``min_size`` and ``average_size`` a cut needs
  ``log2(average) + 2`` hash bits to be zero (hard), after ``average_size`` only
  ``log2(average) - 2`` (easy), and ``max_size`` forces a cut;
* ``min_size = average / 4`` and ``max_size = average * 8``.

The mask bits are the *top* bits of the 32-bit hash, which see the most context (bit ``k``
depends on the last ``k + 1`` bytes). The easy mask is a subset of the hard one, so every
hard candidate is also an easy candidate.

Speed: a byte-at-a-time Python loop would run at a few MB/s. Because a 32-bit gear hash
is the windowed sum ``h[i] = sum(GEAR[b[i - j]] << j for j in 0..31) mod 2**32``, it is
computed for every position at once with numpy by *doubling*: a window of 2w is a window
of w plus the window of w ending w bytes earlier shifted left by w (5 shift-and-add passes).
The candidate cut positions are then selected by a short Python loop over chunks (bisect
over the sorted candidates), about one iteration per chunk. The original FastCDC resets
the hash at each chunk start; since ``min_size >= 64 > 32`` bytes, the windowed hash equals
the reset hash at every position where a cut is allowed, so the cut points are identical.

The compiled version (``_fastcdc.c``, one rolling-hash pass per chunk that skips each chunk's first
quarter) gives the same cut points several times faster; ``cdc_boundaries`` uses it when it is
built, unless ``MEMORIES_PURE_PYTHON=1`` is set (a property test compares both on random data).

Streaming: with ``final=False`` (more input follows) only the chunks whose cut cannot depend on
later bytes are returned, those that start at least ``max_size`` bytes before the end of the
buffer; the caller keeps the rest and passes it again with the next bytes. The cuts of a stream
fed in any pieces are the cuts of the whole input.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import numpy as np
import numpy.typing as npt
import xxhash

from memories.errors import ConfigError


def _load_compiled() -> tuple[Callable[..., bytes] | None, Callable[[object, int], bytes] | None]:
    """Return ``_fastcdc``'s ``cut_points`` and ``find_runs`` (runs.py), or Nones in a source tree that was never
    installed (numpy serves)."""
    try:
        from memories.optimization.dedup._fastcdc import cut_points, find_runs
    except ImportError:
        return None, None
    return cut_points, find_runs


compiled_cut_points, compiled_find_runs = _load_compiled()

GEAR_WINDOW_BYTES = 32
MINIMUM_CDC_AVERAGE_BYTES = 256
NORMALIZATION_LEVEL = 2
# Input processed per numpy pass; sized so the uint32 work arrays stay in the CPU cache.
SEGMENT_BYTES = 64 * 1024
# Inputs are split across threads only in ranges at least this large.
PARALLEL_RANGE_BYTES = 4 * 1024 * 1024


def _gear_table() -> npt.NDArray[np.uint32]:
    """Return the 256 gear values, derived from XXH3 so they never change between versions."""
    values = [xxhash.xxh3_64_intdigest(bytes([byte]), seed=0x6765617220) & 0xFFFFFFFF for byte in range(256)]
    return np.array(values, dtype=np.uint32)


GEAR = _gear_table()
GEAR_BYTES = GEAR.astype("=u4").tobytes()
COMPILED = compiled_cut_points is not None and not os.environ.get("MEMORIES_PURE_PYTHON")


def fixed_boundaries(size: int, block_size: int) -> npt.NDArray[np.int64]:
    """Return the end offsets of consecutive ``block_size``-byte blocks (the last may be shorter)."""
    ends = np.arange(block_size, size, block_size, dtype=np.int64)
    return np.append(ends, np.int64(size)) if size else ends


def _top_bits_mask(bits: int) -> int:
    return ((1 << bits) - 1) << (32 - bits)


def cdc_masks(average_size: int) -> tuple[int, int]:
    """Return (hard mask, easy mask) for normalized chunking around ``average_size`` bytes."""
    bits = round(np.log2(average_size))
    return _top_bits_mask(bits + NORMALIZATION_LEVEL), _top_bits_mask(bits - NORMALIZATION_LEVEL)


def gear_hashes(window: npt.NDArray[np.uint8], history_length: int) -> npt.NDArray[np.uint32]:
    """Return the 32-bit gear hash at every byte of ``window`` after its first ``history_length`` bytes.

    The first ``history_length`` bytes (at most 32) are the input that precedes the part of
    interest; they only feed the hash. ``mode="clip"`` makes ``take`` skip bounds checks,
    which roughly halves its cost (uint8 indexes cannot exceed the 256-entry table anyway).
    """
    hashes = np.take(GEAR, window, mode="clip")
    width = 1
    while width < GEAR_WINDOW_BYTES:
        hashes[width:] += hashes[:-width] << np.uint32(width)
        width *= 2
    return hashes[history_length:]


def _candidates_in_range(
    buffer: npt.NDArray[np.uint8], masks: tuple[int, int], first: int, stop: int
) -> tuple[list[int], list[int]]:
    """Return sorted cut positions in ``[first, stop)`` meeting the hard and easy masks.

    A position is the offset of the byte *after* a possible cut.
    """
    hard_mask, easy_mask = np.uint32(masks[0]), np.uint32(masks[1])
    hard: list[int] = []
    easy: list[int] = []
    for start in range(first, stop, SEGMENT_BYTES):
        history_start = max(0, start - GEAR_WINDOW_BYTES)
        hashes = gear_hashes(buffer[history_start : min(start + SEGMENT_BYTES, stop)], start - history_start)
        easy_positions = np.flatnonzero((hashes & easy_mask) == 0)
        hard_positions = easy_positions[(hashes[easy_positions] & hard_mask) == 0]
        easy.extend((easy_positions + (start + 1)).tolist())
        hard.extend((hard_positions + (start + 1)).tolist())
    return hard, easy


def _candidates(buffer: npt.NDArray[np.uint8], masks: tuple[int, int]) -> tuple[list[int], list[int]]:
    """Return all candidate cut positions, computed in parallel over ranges of the input.

    numpy releases the GIL in ``take``, shifts and adds, so ranges hashed in threads run
    on all cores; each range reads up to 32 bytes before its start, so the result is the
    same as one sequential pass.
    """
    size = len(buffer)
    workers = min(os.cpu_count() or 1, max(1, size // PARALLEL_RANGE_BYTES))
    step = -(-size // workers // SEGMENT_BYTES) * SEGMENT_BYTES or SEGMENT_BYTES
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)]
    if len(ranges) <= 1:
        return _candidates_in_range(buffer, masks, 0, size)
    with ThreadPoolExecutor(len(ranges)) as pool:
        results = list(pool.map(lambda bounds: _candidates_in_range(buffer, masks, *bounds), ranges))
    return list(chain.from_iterable(hard for hard, _ in results)), list(
        chain.from_iterable(easy for _, easy in results)
    )


def cdc_limits(average_size: int) -> tuple[int, int]:
    """Return (minimum, maximum) chunk sizes for ``average_size``; ConfigError below 256 bytes."""
    if average_size < MINIMUM_CDC_AVERAGE_BYTES:
        raise ConfigError(
            f"block_size: content-defined chunking needs an average of at least "
            f"{MINIMUM_CDC_AVERAGE_BYTES} bytes, got {average_size}"
        )
    return average_size // 4, average_size * 8


def use_compiled(compiled: bool | None) -> bool:
    """Whether to run the C version: None takes it when it is built (and MEMORIES_PURE_PYTHON is unset).

    Raises ConfigError for ``compiled=True`` when the _fastcdc extension is not built.
    """
    if compiled is None:
        return COMPILED
    if compiled and compiled_cut_points is None:
        raise ConfigError("compiled: the _fastcdc extension is not built (pip install -e . builds it)")
    return compiled


def cdc_boundaries(
    buffer: npt.NDArray[np.uint8], average_size: int, *, final: bool = True, compiled: bool | None = None
) -> npt.NDArray[np.int64]:
    """Return FastCDC chunk end offsets for ``buffer`` (a 1-D uint8 array).

    Chunks are ``average_size // 4`` to ``average_size * 8`` bytes long, except the last one,
    which may be shorter. With ``final=False`` only the settled chunks are returned (see the
    module docstring). ``compiled`` picks the C (True) or numpy (False) version; None takes
    the C one when available. Raises ConfigError if ``average_size`` is below 256 bytes.
    """
    minimum, maximum = cdc_limits(average_size)
    if use_compiled(compiled):
        return _compiled_boundaries(buffer, average_size, final)
    boundaries = _python_boundaries(buffer, average_size, minimum, maximum)
    if final or not len(boundaries):
        return boundaries
    starts = np.concatenate(([0], boundaries[:-1]))
    return boundaries[: int(np.searchsorted(starts, len(buffer) - maximum, side="right"))]


def _compiled_cuts(buffer: npt.NDArray[np.uint8], start: int, stop: int, average_size: int, final: bool) -> list[int]:
    """Cut points (absolute offsets) of chunking ``buffer[start:stop]`` from ``start``; see ``cdc_boundaries``."""
    assert compiled_cut_points is not None
    minimum, maximum = cdc_limits(average_size)
    hard_mask, easy_mask = cdc_masks(average_size)
    ends = compiled_cut_points(
        buffer[start:stop], GEAR_BYTES, minimum, average_size, maximum, hard_mask, easy_mask, final
    )
    cuts: list[int] = (np.frombuffer(ends, dtype=np.int64) + start).tolist()
    return cuts


def _compiled_boundaries(buffer: npt.NDArray[np.uint8], average_size: int, final: bool) -> npt.NDArray[np.int64]:
    """The C cut points, found in parallel over ranges of a large input with the same result as one pass.

    Each thread chunks its range as if a chunk started there (the C code releases the GIL). Chunking
    is a function of where the current chunk starts, so once the true sequence of cuts, continued
    from the previous range, reaches a cut of a range's own sequence, the two agree from there on:
    the merge steps the true sequence from its last cut, one chunk at a time, until that happens
    (usually at the first or second chunk of the range).
    """
    size, maximum = len(buffer), cdc_limits(average_size)[1]
    workers = min(os.cpu_count() or 1, max(1, size // PARALLEL_RANGE_BYTES))
    if workers == 1:
        return np.array(_compiled_cuts(buffer, 0, size, average_size, final), dtype=np.int64)
    step = -(-size // workers)
    # Range k holds the chunks that start in [k * step, (k + 1) * step]; its slice reaches a maximum chunk further.
    bounds = [(start, min(start + step + maximum, size)) for start in range(0, size, step)]

    def range_cuts(bounds: tuple[int, int]) -> list[int]:
        start, stop = bounds
        return _compiled_cuts(buffer, start, stop, average_size, final and stop == size)

    with ThreadPoolExecutor(len(bounds)) as pool:
        sequences = list(pool.map(range_cuts, bounds))
    cuts = sequences[0]
    for (_start, stop), sequence in zip(bounds[1:], sequences[1:], strict=True):
        known = {cut: index for index, cut in enumerate(sequence)}
        while cuts:
            last = cuts[-1]
            if last in known:
                cuts.extend(sequence[known[last] + 1 :])
                break
            if not sequence or last > sequence[-1]:  # no agreement in this range: chunk it from the true cut
                cuts.extend(_compiled_cuts(buffer, last, stop, average_size, final and stop == size))
                break
            window_stop = min(last + 2 * maximum, size)
            following = _compiled_cuts(buffer, last, window_stop, average_size, final and window_stop == size)
            if not following:  # only an unsettled tail is left
                break
            cuts.append(following[0])
    return np.array(cuts, dtype=np.int64)


def _python_boundaries(
    buffer: npt.NDArray[np.uint8], average_size: int, minimum: int, maximum: int
) -> npt.NDArray[np.int64]:
    size = len(buffer)
    hard, easy = _candidates(buffer, cdc_masks(average_size))
    ends: list[int] = []
    start = 0
    while size - start > minimum:
        normal_end = min(start + average_size, size)
        limit = min(start + maximum, size)
        index = bisect.bisect_left(hard, start + minimum)
        if index < len(hard) and hard[index] < normal_end:
            end = hard[index]
        else:
            index = bisect.bisect_left(easy, normal_end)
            end = easy[index] if index < len(easy) and easy[index] < limit else limit
        ends.append(end)
        start = end
    if start < size:
        ends.append(size)
    return np.array(ends, dtype=np.int64)
