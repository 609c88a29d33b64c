"""Streamed ingest and restore: the same recipes as ``process``, byte-for-byte round trips, bounded memory."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization import Deduplicator
from memories.optimization.dedup import streams


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


async def in_pieces(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    position, index = 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        yield data[position : position + size]
        position, index = position + size, index + 1


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 300_000),
    seed=st.integers(0, 1000),
    sizes=st.lists(st.integers(1, 70_000), min_size=1, max_size=5),
    chunking=st.sampled_from(["fixed", "cdc"]),
    verify=st.booleans(),
)
async def test_an_async_stream_gives_the_recipe_process_gives(
    size: int, seed: int, sizes: list[int], chunking: str, verify: bool
) -> None:
    data = random_bytes(size, seed)
    whole = await Deduplicator("1KB", chunking=chunking).process(data)
    dedup = Deduplicator("1KB", chunking=chunking, verify=verify)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streams, "READ_BYTES", 50_000)  # many segments, each cut across pieces
        patch.setattr(streams, "WRITE_BYTES", 30_000)
        streamed = await dedup.ingest(in_pieces(data, sizes))
        restored = b"".join([piece async for piece in dedup.restore_stream(streamed.input_id)])
    assert streamed == whole  # same id (XXH3-128 of the input), size and block ids
    assert (streamed.new_bytes, streamed.new_blocks) == (whole.new_bytes, whole.new_blocks)
    assert restored == data
    reference = Deduplicator("1KB", chunking=chunking)
    await reference.process(data)
    assert dedup.get_metrics() == reference.get_metrics()


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 200_000),
    seed=st.integers(0, 1000),
    window=st.integers(500, 60_000),
    chunking=st.sampled_from(["fixed", "cdc"]),
)
async def test_process_in_windows_gives_the_recipe_of_one_window(
    size: int, seed: int, window: int, chunking: str
) -> None:
    data = random_bytes(size // 2, seed) * 2
    whole = await Deduplicator("1KB", chunking=chunking).process(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streams, "WINDOW_BYTES", window)  # shorter and longer than a block or the 8 KiB largest chunk
        windowed = await Deduplicator("1KB", chunking=chunking).process(data)
    assert windowed == whole
    assert (windowed.new_bytes, windowed.new_blocks) == (whole.new_bytes, whole.new_blocks)


async def test_files_and_file_objects_stream_in_and_out(tmp_path: Path) -> None:
    data = random_bytes(3_000_000, seed=1) * 2
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    dedup = Deduplicator("4KB", chunking="cdc", store_path=tmp_path / "store")
    from_path = await dedup.ingest(source, name="path")
    with source.open("rb") as file:
        from_file = await dedup.ingest(file, name="file")
    assert from_path.block_ids == from_file.block_ids and from_file.new_bytes == 0
    assert from_path.new_bytes is not None and from_path.new_bytes < 3_100_000  # the second copy is deduplicated
    assert await dedup.restore_to("path", tmp_path / "out.bin") == len(data)
    assert (tmp_path / "out.bin").read_bytes() == data
    sink = io.BytesIO()
    await dedup.restore_to(from_file, sink)
    assert sink.getvalue() == data
    dedup.close()


async def test_a_file_larger_than_the_memory_bound_round_trips_in_bounded_memory(tmp_path: Path) -> None:
    """A 240 MiB file (15 versions of a 16 MiB random base with small edits) in and out in under 56 MiB."""
    base = bytearray(random_bytes(16 * 1024 * 1024, seed=2))
    source, restored = tmp_path / "big.bin", tmp_path / "restored.bin"
    expected = xxhash.xxh3_128()
    with source.open("wb") as file:
        for version in range(15):
            base[version * 1_000_003 : version * 1_000_003 + 100] = random_bytes(100, seed=10 + version)
            file.write(base)
            expected.update(base)
    del base
    size = source.stat().st_size
    dedup = Deduplicator("4KB", chunking="cdc")
    tracemalloc.start()
    try:
        recipe = await dedup.ingest(source)
        await dedup.restore_to(recipe, restored)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bound = 56 * 1024 * 1024
    # the in-memory store itself holds the distinct blocks (~16 MiB here) and counts against the bound
    assert size > 4 * bound and peak < bound, (size, peak)
    assert recipe.input_id == expected.hexdigest() and recipe.size == size
    written = xxhash.xxh3_128()
    with restored.open("rb") as file:
        while piece := file.read(1 << 22):
            written.update(piece)
    assert written.hexdigest() == expected.hexdigest()


async def test_a_bad_source_is_a_type_error_and_registers_nothing() -> None:
    dedup = Deduplicator()

    async def not_bytes() -> AsyncIterator[object]:
        yield b"fine"
        yield 42

    with pytest.raises(TypeError, match="bytes-like"):
        await dedup.ingest(not_bytes())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary mode"):
        await dedup.ingest(io.StringIO("text"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="file path"):
        await dedup.ingest(42)  # type: ignore[arg-type]
    assert dedup.input_ids() == []


async def test_restoring_an_unknown_input_raises_key_error() -> None:
    with pytest.raises(KeyError, match="no input"):
        await Deduplicator().restore_to("absent", io.BytesIO())
