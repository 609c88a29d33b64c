"""Block ids of many blocks in one call (``_block_ids.c``) against python-xxhash one block at a time."""

from __future__ import annotations

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.dedup import hashing
from memories.optimization.dedup.hashing import HASHERS, BlockHasher

compiled = hashing._load_compiled()
needs_compiled = pytest.mark.skipif(compiled is None, reason="the _block_ids extension is not built")


def reference(data: bytes, ends: list[int]) -> list[bytes]:
    return [xxhash.xxh3_128_digest(data[start:end]) for start, end in zip([0, *ends[:-1]], ends, strict=False)]


@st.composite
def data_and_ends(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = draw(st.binary(min_size=0, max_size=20_000))
    ends = sorted(draw(st.sets(st.integers(1, max(1, len(data))), max_size=60))) if data else []
    return data, ends


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(data_and_ends())
def test_compiled_ids_equal_python_xxhash_per_block(case: tuple[bytes, list[int]]) -> None:
    data, ends = case
    assert compiled is not None
    assert compiled(data, np.array(ends, dtype=np.int64), 0) == reference(data, ends)


@settings(max_examples=100, deadline=None)
@given(data_and_ends())
def test_python_block_ids_equal_per_block_digests(case: tuple[bytes, list[int]]) -> None:
    data, ends = case
    python_only = BlockHasher("xxhash", 16, HASHERS["xxhash"].digest, xxhash.xxh3_128_digest)
    assert python_only.block_ids(memoryview(data), np.array(ends, dtype=np.int64)) == reference(data, ends)


@needs_compiled
def test_compiled_ids_start_at_the_given_offset() -> None:
    data = bytes(range(256)) * 64
    assert compiled is not None
    assert compiled(data, np.array([5000, 9000], dtype=np.int64), 1000) == [
        xxhash.xxh3_128_digest(data[1000:5000]),
        xxhash.xxh3_128_digest(data[5000:9000]),
    ]


@needs_compiled
@pytest.mark.parametrize(
    ("ends", "start", "message"),
    [
        ([10, 10], 0, "not above"),
        ([20, 10], 0, "not above"),
        ([101], 0, "within 100 bytes"),
        ([5], 5, "not above"),
        ([5], -1, "non-negative"),
    ],
)
def test_compiled_ids_refuse_ends_out_of_order_or_range(ends: list[int], start: int, message: str) -> None:
    assert compiled is not None
    with pytest.raises(ValueError, match=message):
        compiled(bytes(100), np.array(ends, dtype=np.int64), start)


@needs_compiled
def test_compiled_ids_refuse_a_buffer_that_is_not_int64s() -> None:
    assert compiled is not None
    with pytest.raises(ValueError, match="int64"):
        compiled(bytes(100), np.zeros(3, dtype=np.int32), 0)  # 12 bytes: not whole int64s
