"""Run-aware CDC (runs.py): long runs of one byte cut out of FastCDC, the same cuts however the input arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from memories.optimization.dedup import chunking
from memories.optimization.dedup.chunking import cdc_boundaries, cdc_limits
from memories.optimization.dedup.deduplicator import Deduplicator
from memories.optimization.dedup.recipe import DedupRecipe
from memories.optimization.dedup.runs import (
    RUN_MINIMUM_BYTES,
    RUN_PIECE_BYTES,
    find_runs,
    run_aware_boundaries,
)

AVERAGE = 4096
RUN = RUN_MINIMUM_BYTES
PIECE = RUN_PIECE_BYTES
# Run lengths around every edge the rules have: the threshold, one piece, a piece plus the threshold.
RUN_LENGTHS = st.sampled_from([1, 2, RUN - 1, RUN, RUN + 1, PIECE - 1, PIECE, PIECE + 1, PIECE + RUN - 1, PIECE + RUN])
COMPILED = [False, True] if chunking.compiled_cut_points is not None else [False]

# A part's value that stands for random bytes rather than a run of one byte value (0-255).
RANDOM = 256
Parts = list[tuple[int, int]]


def build(parts: Parts, seed: int) -> np.ndarray:
    """Concatenate parts: (length, value 0-255: a run of that byte; ``RANDOM``: random bytes)."""
    rng = np.random.default_rng(seed)
    pieces = [
        rng.integers(0, 256, length, dtype=np.uint8) if value == RANDOM else np.full(length, value, dtype=np.uint8)
        for length, value in parts
    ]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)


#: The most segments one streamed example may take: each call scans again from the last cut, so 1-byte segments of
#: a buffer holding a long run (no cut until it ends) cost the square of its length (CI: over 300 s for 0.5 MiB).
MAX_SEGMENTS = 3000

PART = st.tuples(st.one_of(RUN_LENGTHS, st.integers(1, 2 * PIECE)), st.sampled_from([0, 0, 7, 255, RANDOM, RANDOM]))
PARTS = st.lists(PART, max_size=5)


def streamed(buffer: np.ndarray, sizes: list[int], compiled: bool) -> list[int]:
    """The cuts of ``buffer`` fed in segments of ``sizes`` (cycled), each buffer starting at the last cut."""
    cuts: list[int] = []
    start = received = index = 0
    while True:
        received = min(len(buffer), received + sizes[index % len(sizes)])
        index += 1
        final = received == len(buffer)
        ends = run_aware_boundaries(buffer[start:received], AVERAGE, final=final, compiled=compiled)
        cuts += (ends + start).tolist()
        start = cuts[-1] if cuts else 0
        if final:
            return cuts


@settings(max_examples=60, deadline=None)
@given(parts=PARTS, seed=st.integers(0, 2**32 - 1), minimum=st.sampled_from([2, 3, 64, RUN]))
def test_the_compiled_probe_finds_the_runs_numpy_finds(parts: Parts, seed: int, minimum: int) -> None:
    buffer = build(parts, seed)
    runs = find_runs(buffer, minimum, compiled=False)
    assert all(end - start >= minimum for start, end in runs)
    assert all(len(set(buffer[start:end].tolist())) == 1 for start, end in runs)
    if chunking.compiled_cut_points is not None:
        assert find_runs(buffer, minimum, compiled=True) == runs


@settings(max_examples=60, deadline=None)
@given(
    parts=PARTS,
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(
        st.one_of(st.integers(2000, 20_000), st.integers(20_000, 2 * PIECE), RUN_LENGTHS), min_size=1, max_size=4
    ),
    compiled=st.sampled_from(COMPILED),
)
def test_streamed_segments_of_any_size_give_the_cuts_of_one_buffer(
    parts: Parts, seed: int, sizes: list[int], compiled: bool
) -> None:
    buffer = build(parts, seed)
    assume(len(buffer) * len(sizes) <= MAX_SEGMENTS * sum(sizes))  # tiny segments only: a buffer of a few KiB
    whole = run_aware_boundaries(buffer, AVERAGE, compiled=compiled).tolist()
    assert streamed(buffer, sizes, compiled) == whole
    if len(COMPILED) == 2:
        assert run_aware_boundaries(buffer, AVERAGE, compiled=not compiled).tolist() == whole


@settings(max_examples=40, deadline=None)
@given(parts=PARTS, seed=st.integers(0, 2**32 - 1), workers=st.integers(2, 8), final=st.booleans())
def test_threaded_ranges_give_the_cuts_of_one_pass(parts: Parts, seed: int, workers: int, final: bool) -> None:
    if chunking.compiled_cut_points is None:
        pytest.skip("the _fastcdc extension is not built")
    buffer = build(parts, seed)
    sequential = run_aware_boundaries(buffer, AVERAGE, final=final, compiled=False).tolist()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunking, "PARALLEL_RANGE_BYTES", 2048)
        patch.setattr("os.cpu_count", lambda: workers)
        assert run_aware_boundaries(buffer, AVERAGE, final=final, compiled=True).tolist() == sequential


@pytest.mark.parametrize("compiled", COMPILED)
@pytest.mark.parametrize("length", [RUN - 1, RUN, PIECE, PIECE + 5, 3 * PIECE + RUN])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_run_of_at_least_the_threshold_is_cut_into_pieces(compiled: bool, length: int, where: str) -> None:
    rng = np.random.default_rng(length)
    before = rng.integers(1, 256, 0 if where == "start" else 50_000, dtype=np.uint8)
    after = rng.integers(1, 256, 0 if where == "end" else 70_000, dtype=np.uint8)
    buffer = np.concatenate([before, np.zeros(length, dtype=np.uint8), after])
    ends = run_aware_boundaries(buffer, AVERAGE, compiled=compiled).tolist()
    start, stop = len(before), len(before) + length
    if length < RUN:  # below the threshold: FastCDC alone
        assert ends == cdc_boundaries(buffer, AVERAGE, compiled=compiled).tolist()
        return
    pieces = [*range(start + PIECE, stop, PIECE), stop]
    assert [end for end in ends if start < end <= stop] == pieces
    assert start == 0 or start in ends
    before_cuts = (cdc_boundaries(buffer[:start], AVERAGE, compiled=compiled)).tolist()
    after_cuts = (cdc_boundaries(buffer[stop:], AVERAGE, compiled=compiled) + stop).tolist()
    assert ends == before_cuts + pieces + after_cuts


def trailing_repeats(buffer: np.ndarray) -> int:
    """How many bytes at the end of ``buffer`` repeat its last byte (0 for an empty buffer)."""
    count = 0
    while count < len(buffer) and buffer[len(buffer) - 1 - count] == buffer[-1]:
        count += 1
    return count


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 400_000), seed=st.integers(0, 2**32 - 1), text=st.booleans())
@example(size=32768, seed=0, text=False)  # FastCDC's rule settles a cut here that the held-back last byte does not
def test_data_without_long_runs_keeps_its_fastcdc_chunks(size: int, seed: int, text: bool) -> None:
    """Whole, the cuts are FastCDC's. Streamed (final=False), the bytes that repeat the last one may still become a
    run, so they are held back and the stretch before them is chunked as FastCDC streams it: the cuts returned are
    true cuts, and at most a maximum chunk plus a run's threshold is left for the next buffer."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b" \n\teetaoinshrdlu{}()=;", dtype=np.uint8)
    buffer = rng.choice(alphabet, size) if text else rng.integers(0, 256, size, dtype=np.uint8)
    whole = cdc_boundaries(buffer, AVERAGE).tolist()
    assert run_aware_boundaries(buffer, AVERAGE).tolist() == whole
    settled = run_aware_boundaries(buffer, AVERAGE, final=False).tolist()
    before_the_tail = buffer[: size - trailing_repeats(buffer)]
    assert settled == cdc_boundaries(before_the_tail, AVERAGE, final=False).tolist()
    assert settled == whole[: len(settled)]
    _minimum, maximum = cdc_limits(AVERAGE)
    assert size - (settled[-1] if settled else 0) < maximum + RUN


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@settings(max_examples=15, deadline=None)
@given(parts=PARTS, seed=st.integers(0, 2**32 - 1), piece=st.integers(1000, 3 * PIECE))
async def test_the_deduplicator_restores_runs_byte_exact_whole_or_streamed(parts: Parts, seed: int, piece: int) -> None:
    data = build(parts, seed).tobytes()
    dedup = Deduplicator(AVERAGE, chunking="cdc")
    whole = await dedup.process(data, name="whole")
    streamed_recipe = await dedup.ingest(_pieces(data, piece), name="streamed")
    assert streamed_recipe.block_ids == whole.block_ids
    assert len(whole.block_ids) == len(run_aware_boundaries(np.frombuffer(data, dtype=np.uint8), AVERAGE))
    assert await dedup.restore("whole") == data
    assert await dedup.restore("streamed") == data


async def test_new_recipes_name_the_new_cuts_and_old_ones_still_restore() -> None:
    data = build([(50_000, RANDOM), (3 * RUN, 0), (50_000, RANDOM)], seed=5).tobytes()
    dedup = Deduplicator(AVERAGE, chunking="cdc")
    recipe = await dedup.process(data)
    assert recipe.chunking == "cdc-runs"
    assert DedupRecipe.from_bytes(recipe.to_bytes()) == recipe
    # A recipe written before runs were cut out says "cdc" (code 1); its blocks restore as before.
    older = DedupRecipe.from_bytes(replace(recipe, chunking="cdc").to_bytes())
    assert older.chunking == "cdc"
    assert await dedup.restore(older) == data
