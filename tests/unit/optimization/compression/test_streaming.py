"""Streaming and file helpers: same container format, chunks verified, memory bounded by chunk size."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import CorruptDataError
from memories.optimization.compression import CompressedData, MemoryCompressor

CHUNK_SIZE = 256 * 1024
PIECE_SIZE = 100_000
STREAMED_CHUNKS = 80
MEMORY_BOUND = 24 * CHUNK_SIZE  # under a third of the streamed data


def record_piece(number: int) -> bytes:
    """About PIECE_SIZE bytes of compressible, non-repeating text (deterministic)."""
    lines = (
        f"{number:06d}-{line:05d},sensor={line % 17},reading={(line * 7919 + number) % 100003}\n"
        for line in range(3000)
    )
    return "".join(lines).encode()[:PIECE_SIZE]


async def stream_of(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


@given(pieces=st.lists(st.binary(max_size=3000), max_size=12), algorithm=st.sampled_from(["lz4", "zstd"]))
@settings(max_examples=40, deadline=None)
async def test_stream_round_trips_with_any_piece_sizes(pieces: list[bytes], algorithm: str) -> None:
    compressor = MemoryCompressor(algorithm, chunk_size=1024, workers=2)
    container = await collect(compressor.compress_stream(stream_of(pieces)))
    container_pieces = [container[start : start + 333] for start in range(0, len(container), 333)]
    assert await collect(compressor.decompress_stream(stream_of(container_pieces))) == b"".join(pieces)


async def test_streamed_container_is_the_in_memory_format() -> None:
    compressor = MemoryCompressor(chunk_size="64KB")
    data = b"".join(record_piece(number) for number in range(3))
    container = await collect(compressor.compress_stream(stream_of([data[:1234], data[1234:]])))
    assert container == (await compressor.compress(data, metadata=False)).to_bytes()
    assert await compressor.decompress(CompressedData.from_bytes(container)) == data


async def test_truncated_stream_raises_naming_the_chunk() -> None:
    compressor = MemoryCompressor(chunk_size="16KB")
    container = (await compressor.compress(record_piece(0))).to_bytes()
    chunk = CompressedData.from_bytes(container).metadata.chunks[1]
    with pytest.raises(CorruptDataError) as raised:
        await collect(compressor.decompress_stream(stream_of([container[: chunk.offset + 10]])))
    assert raised.value.location == "chunk 1"


async def test_stream_with_extra_bytes_after_trailer_raises() -> None:
    compressor = MemoryCompressor()
    container = (await compressor.compress(b"payload")).to_bytes()
    with pytest.raises(CorruptDataError, match="after the trailer"):
        await collect(compressor.decompress_stream(stream_of([container, b"junk"])))


async def test_empty_stream_raises_truncated() -> None:
    with pytest.raises(CorruptDataError, match="truncated"):
        await collect(MemoryCompressor().decompress_stream(stream_of([])))


async def test_streaming_eighty_chunks_keeps_memory_bounded() -> None:
    compressor = MemoryCompressor("lz4", chunk_size=CHUNK_SIZE, workers=2)
    distinct = [record_piece(number) for number in range(7)]
    pieces = (distinct[number % 7] for number in range(STREAMED_CHUNKS * CHUNK_SIZE // PIECE_SIZE))
    input_digest, output_digest, total = hashlib.sha256(), hashlib.sha256(), 0

    def remember(piece: bytes) -> bytes:
        input_digest.update(piece)
        return piece

    tracemalloc.start()
    try:
        compressed = compressor.compress_stream(stream_of(remember(piece) for piece in pieces))
        async for piece in compressor.decompress_stream(compressed):
            output_digest.update(piece)
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total >= STREAMED_CHUNKS * CHUNK_SIZE - PIECE_SIZE
    assert output_digest.digest() == input_digest.digest()
    # both directions together: about 2 × workers chunks in flight each way, plus parser/rechunk buffers
    assert peak < MEMORY_BOUND, f"peak traced memory {peak} bytes for a {total}-byte stream"


async def test_file_helpers_round_trip_and_bound_memory(tmp_path: Path) -> None:
    source, packed, restored = tmp_path / "data.csv", tmp_path / "data.mz", tmp_path / "data.out"
    distinct = [record_piece(number) for number in range(7)]
    with source.open("wb") as file:
        for number in range(STREAMED_CHUNKS * CHUNK_SIZE // PIECE_SIZE):
            file.write(distinct[number % 7])
    compressor = MemoryCompressor("zstd", 1, chunk_size=CHUNK_SIZE, workers=2)
    tracemalloc.start()
    try:
        written = await compressor.compress_file(source, packed)
        await compressor.decompress_file(packed, restored)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == packed.stat().st_size
    assert restored.read_bytes() == source.read_bytes()
    assert peak < MEMORY_BOUND, f"peak traced memory {peak} bytes"


async def test_failed_decompress_file_leaves_no_output(tmp_path: Path) -> None:
    packed, restored = tmp_path / "bad.mz", tmp_path / "out"
    compressor = MemoryCompressor()
    packed.write_bytes((await compressor.compress(record_piece(1))).to_bytes()[:-1])
    with pytest.raises(CorruptDataError):
        await compressor.decompress_file(packed, restored)
    assert os.listdir(tmp_path) == [packed.name]
