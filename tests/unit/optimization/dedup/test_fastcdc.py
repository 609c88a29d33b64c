"""The compiled FastCDC (``_fastcdc.c``) against the numpy version: identical cut points, whole or streamed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.dedup import chunking
from memories.optimization.dedup.chunking import cdc_boundaries

pytestmark = pytest.mark.skipif(chunking.compiled_cut_points is None, reason="the _fastcdc extension is not built")


def sample(size: int, seed: int, sparse: bool) -> np.ndarray:
    """Random bytes, or mostly zeros (long runs without cut candidates, so chunks end at the maximum)."""
    rng = np.random.default_rng(seed)
    if not sparse:
        return rng.integers(0, 256, size, dtype=np.uint8)
    buffer = np.zeros(size, dtype=np.uint8)
    buffer[rng.integers(0, max(size, 1), size // 50)] = 7
    return buffer


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(0, 150_000),
    seed=st.integers(0, 2**32 - 1),
    average=st.sampled_from([256, 512, 1024, 4096]),
    sparse=st.booleans(),
    final=st.booleans(),
)
def test_compiled_cut_points_equal_the_numpy_ones(
    size: int, seed: int, average: int, sparse: bool, final: bool
) -> None:
    buffer = sample(size, seed, sparse)
    expected = cdc_boundaries(buffer, average, final=final, compiled=False)
    assert cdc_boundaries(buffer, average, final=final, compiled=True).tolist() == expected.tolist()


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 120_000),
    seed=st.integers(0, 2**32 - 1),
    workers=st.integers(2, 8),
    sparse=st.booleans(),
    final=st.booleans(),
)
def test_parallel_ranges_merge_into_the_sequential_cut_points(
    size: int, seed: int, workers: int, sparse: bool, final: bool
) -> None:
    buffer = sample(size, seed, sparse)
    sequential = cdc_boundaries(buffer, 256, final=final, compiled=False).tolist()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunking, "PARALLEL_RANGE_BYTES", 2048)
        patch.setattr("os.cpu_count", lambda: workers)
        assert cdc_boundaries(buffer, 256, final=final, compiled=True).tolist() == sequential


def test_streamed_cut_points_are_those_of_the_whole_input() -> None:
    buffer = sample(700_000, seed=3, sparse=False)
    whole = cdc_boundaries(buffer, 1024).tolist()
    rng = np.random.default_rng(4)
    cuts: list[int] = []
    start, received = 0, 0
    while received < len(buffer):
        received = min(len(buffer), received + int(rng.integers(1, 60_000)))
        ends = cdc_boundaries(buffer[start:received], 1024, final=received == len(buffer))
        cuts += (ends + start).tolist()
        start = cuts[-1] if cuts else 0
    assert cuts == whole


def test_the_compiled_version_rejects_bad_arguments() -> None:
    cut_points = chunking.compiled_cut_points
    assert cut_points is not None
    with pytest.raises(ValueError, match="gear"):
        cut_points(b"x" * 1000, b"short", 256, 1024, 8192, 0, 0, True)
    with pytest.raises(ValueError, match="minimum"):
        cut_points(b"x" * 1000, chunking.GEAR_BYTES, 16, 1024, 8192, 0, 0, True)
    with pytest.raises(TypeError):
        cut_points("text", chunking.GEAR_BYTES, 256, 1024, 8192, 0, 0, True)
