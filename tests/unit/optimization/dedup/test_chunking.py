"""Fixed and FastCDC chunk boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization.dedup import chunking
from memories.optimization.dedup.chunking import GEAR, cdc_boundaries, fixed_boundaries, gear_hashes

AVERAGE = 1024


def random_bytes(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def chunk_set(buffer: np.ndarray) -> set[bytes]:
    ends = cdc_boundaries(buffer, AVERAGE).tolist()
    starts = [0, *ends[:-1]]
    return {buffer[start:end].tobytes() for start, end in zip(starts, ends, strict=True)}


@given(size=st.integers(0, 20_000), block_size=st.integers(1, 5000))
def test_fixed_boundaries_cover_the_input_in_block_size_steps(size: int, block_size: int) -> None:
    ends = fixed_boundaries(size, block_size)
    lengths = np.diff(np.concatenate(([0], ends)))
    assert lengths.sum() == size
    assert all(length == block_size for length in lengths[:-1])
    assert (len(lengths) == 0) == (size == 0)


def test_gear_hash_equals_the_byte_at_a_time_definition() -> None:
    data = random_bytes(600, seed=3)
    expected, value = [], 0
    for byte in data.tolist():
        value = ((value << 1) + int(GEAR[byte])) & 0xFFFFFFFF
        expected.append(value)
    assert gear_hashes(data, 0).tolist() == expected
    assert gear_hashes(data[100:], 32).tolist() == expected[132:]


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 60_000), seed=st.integers(0, 2**32 - 1))
def test_cdc_chunks_respect_minimum_and_maximum_sizes(size: int, seed: int) -> None:
    ends = cdc_boundaries(random_bytes(size, seed), AVERAGE)
    lengths = np.diff(np.concatenate(([0], ends)))
    assert lengths.sum() == size
    assert all(AVERAGE // 4 <= length <= AVERAGE * 8 for length in lengths[:-1])
    assert len(lengths) == 0 or 0 < lengths[-1] <= AVERAGE * 8


def test_cdc_average_chunk_size_is_near_the_requested_average() -> None:
    ends = cdc_boundaries(random_bytes(2_000_000), AVERAGE)
    mean = 2_000_000 / len(ends)
    assert AVERAGE * 0.8 < mean < AVERAGE * 1.5


def test_cdc_insertion_at_the_front_keeps_most_chunks() -> None:
    original = random_bytes(400_000, seed=7)
    shifted = np.concatenate((random_bytes(13, seed=8), original))
    before, after = chunk_set(original), chunk_set(shifted)
    assert len(before & after) >= 0.95 * len(before)


def test_cdc_insertion_in_the_middle_only_changes_nearby_chunks() -> None:
    original = random_bytes(400_000, seed=9)
    edited = np.concatenate((original[:200_000], random_bytes(100, seed=10), original[200_000:]))
    before, after = chunk_set(original), chunk_set(edited)
    assert len(before - after) <= 3


def test_fixed_chunks_are_not_stable_under_insertion_unlike_cdc() -> None:
    original = random_bytes(100_000, seed=11).tobytes()
    shifted = b"x" + original
    blocks = {original[start : start + AVERAGE] for start in range(0, len(original), AVERAGE)}
    shifted_blocks = {shifted[start : start + AVERAGE] for start in range(0, len(shifted), AVERAGE)}
    assert len(blocks & shifted_blocks) == 0


def test_parallel_candidate_search_equals_one_sequential_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = random_bytes(1_000_000, seed=12)
    masks = chunking.cdc_masks(AVERAGE)
    monkeypatch.setattr(chunking, "PARALLEL_RANGE_BYTES", 100_000)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert chunking._candidates(buffer, masks) == chunking._candidates_in_range(buffer, masks, 0, len(buffer))


def test_cdc_rejects_an_average_below_256_bytes() -> None:
    with pytest.raises(ConfigError, match="at least 256"):
        cdc_boundaries(random_bytes(10), 128)
