"""Re-chunking and the ordered, bounded parallel map."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.compression.pipeline import ordered_map, rechunk


async def stream_of(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


@given(pieces=st.lists(st.binary(max_size=50), max_size=20), size=st.integers(1, 64))
@settings(max_examples=100, deadline=None)
async def test_rechunk_cuts_exact_sizes_and_keeps_bytes(pieces: list[bytes], size: int) -> None:
    chunks = [chunk async for chunk in rechunk(stream_of(pieces), size)]
    assert b"".join(chunks) == b"".join(pieces)
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert all(0 < len(chunk) <= size for chunk in chunks)


async def test_ordered_map_keeps_order_and_bounds_in_flight() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow_square(value: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002 * (value % 3))
        with lock:
            running -= 1
        return value * value

    with ThreadPoolExecutor(4) as executor:
        results = [result async for result in ordered_map(slow_square, range(30), executor, limit=3)]
    assert results == [value * value for value in range(30)]
    assert most <= 3


async def test_ordered_map_propagates_the_first_error() -> None:
    def fail_on_five(value: int) -> int:
        if value == 5:
            raise ValueError("five")
        return value

    with ThreadPoolExecutor(2) as executor, pytest.raises(ValueError, match="five"):
        async for _ in ordered_map(fail_on_five, range(10), executor, limit=4):
            pass
