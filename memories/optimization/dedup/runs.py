"""Run-aware content-defined chunking: runs of one repeated byte cut out of the FastCDC stream.

FastCDC's gear hash over a run of one byte settles on a constant; for zeros it has no cut, so a long
zero run (a VM image's free space) lands in maximum-size chunks together with the data around it, and
those chunks move with every insertion before them. Here runs of one byte value at least
``RUN_MINIMUM_BYTES`` long are cut out: a cut where the run starts and one where it ends, the run
cut into ``RUN_PIECE_BYTES`` pieces from its start (plus a shorter last piece). Each stretch between
runs is chunked by FastCDC (chunking.py) from its own start. Where a run starts and ends depends only
on its bytes and the two bytes around it, so the cuts stay content-defined (bench/dedup_runs.py
measured the dedup ratio; docs/benchmarks/dedup.md).

Streaming (``final=False``, more input follows): a run that reaches the end of the buffer is not
settled. When it is at least ``RUN_MINIMUM_BYTES`` long it is a run already (it can only grow): the
stretch before it is chunked to its start, and its pieces are returned as long as at least
``RUN_MINIMUM_BYTES`` of it stay after the last one, so the next buffer (which starts at the last cut)
sees a run from its first byte and continues the pieces in step. When it is shorter it may still become
a run, so the stretch before it is chunked with ``final=False`` only up to the run's start. The cuts of
a stream fed in any pieces are the cuts of the whole input; a buffer's first byte is always taken to be
where a chunk starts, which holds for every cut this returns.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from memories.optimization.dedup import chunking
from memories.optimization.dedup.chunking import cdc_boundaries

RUN_MINIMUM_BYTES = 64 * 1024
RUN_PIECE_BYTES = 256 * 1024
# The numpy run finder compares neighbouring bytes this many at a time (bounded work arrays).
_SCAN_BYTES = 16 * 1024 * 1024


def find_runs(buffer: npt.NDArray[np.uint8], minimum: int, *, compiled: bool | None = None) -> list[tuple[int, int]]:
    """Return (start, end) byte offsets of the maximal runs of one byte value at least ``minimum`` bytes long.

    ``compiled`` picks the C probe (True) or the numpy version (False); None takes the C one when available.
    """
    if chunking.use_compiled(compiled):
        assert chunking.compiled_find_runs is not None  # use_compiled checked it is built
        pairs = np.frombuffer(chunking.compiled_find_runs(buffer, minimum), dtype=np.int64).reshape(-1, 2)
        return [(int(start), int(end)) for start, end in pairs.tolist()]
    changes: list[npt.NDArray[np.int64]] = []
    for start in range(0, max(len(buffer) - 1, 0), _SCAN_BYTES):
        piece = buffer[start : start + _SCAN_BYTES + 1]
        changes.append(np.flatnonzero(piece[1:] != piece[:-1]).astype(np.int64) + start + 1)
    edges = np.concatenate([[0], *changes, [len(buffer)]]) if len(buffer) else np.zeros(0, dtype=np.int64)
    long_ones = np.flatnonzero(np.diff(edges) >= minimum)
    return [(int(edges[index]), int(edges[index + 1])) for index in long_ones.tolist()]


def _trailing_run_start(buffer: npt.NDArray[np.uint8], first: int) -> int:
    """Where the run of the last byte's value that ends the buffer starts (not before ``first``, at most
    ``RUN_MINIMUM_BYTES`` back: a longer one is found by ``find_runs``)."""
    size = len(buffer)
    window_start = max(first, size - RUN_MINIMUM_BYTES)
    if window_start >= size:
        return size
    window = buffer[window_start:]
    different = np.flatnonzero(window != window[-1])
    return window_start + int(different[-1]) + 1 if len(different) else window_start


def run_aware_boundaries(
    buffer: npt.NDArray[np.uint8], average_size: int, *, final: bool = True, compiled: bool | None = None
) -> npt.NDArray[np.int64]:
    """Return the chunk end offsets of ``buffer`` (1-D uint8): long runs of one byte cut out, FastCDC between.

    Outside runs the chunks are ``cdc_boundaries``' (``average_size // 4`` to ``average_size * 8`` bytes);
    runs give ``RUN_PIECE_BYTES`` pieces and a shorter last one. With ``final=False`` only the settled
    chunks are returned (module docstring). ``compiled`` as for ``cdc_boundaries``. Raises ConfigError if
    ``average_size`` is below 256 bytes.
    """
    size = len(buffer)
    ends: list[int] = []
    position = 0

    def stretch(stop: int, settled: bool) -> None:
        if stop > position:
            cuts = cdc_boundaries(buffer[position:stop], average_size, final=settled, compiled=compiled)
            ends.extend((cuts + position).tolist())

    for start, end in find_runs(buffer, RUN_MINIMUM_BYTES, compiled=compiled):
        stretch(start, True)
        if not final and end == size:
            last_piece = size - RUN_MINIMUM_BYTES
            ends.extend(range(start + RUN_PIECE_BYTES, last_piece + 1, RUN_PIECE_BYTES))
            return np.array(ends, dtype=np.int64)
        ends.extend(range(start + RUN_PIECE_BYTES, end, RUN_PIECE_BYTES))
        ends.append(end)
        position = end
    if final:
        stretch(size, True)
    else:
        stretch(_trailing_run_start(buffer, position), False)
    return np.array(ends, dtype=np.int64)
