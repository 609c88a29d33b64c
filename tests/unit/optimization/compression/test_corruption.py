"""Damaged containers: every corruption or truncation raises CorruptDataError, never different bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import CorruptDataError
from memories.optimization.compression import CompressedData, MemoryCompressor

DATA = b"".join(f"{index:08d} temperature={index % 41 - 10} station=ST{index % 13}\n".encode() for index in range(1500))


async def container_of(algorithm: str) -> bytes:
    return (await MemoryCompressor(algorithm, chunk_size=8192, workers=2).compress(DATA)).to_bytes()


@pytest.fixture(scope="module")
def containers() -> dict[str, bytes]:
    import asyncio

    return {algorithm: asyncio.run(container_of(algorithm)) for algorithm in ("lz4", "zstd")}


async def outcome(container: bytes) -> bytes | None:
    """The decompressed bytes, or None when CorruptDataError was raised."""
    try:
        restored = await MemoryCompressor(workers=2).decompress(container)
    except CorruptDataError:
        return None
    assert isinstance(restored, bytes)
    return restored


@given(algorithm=st.sampled_from(["lz4", "zstd"]), position=st.floats(0, 1, exclude_max=True), flip=st.integers(1, 255))
@settings(max_examples=300, deadline=None)
async def test_single_byte_corruption_never_returns_different_bytes(
    containers: dict[str, bytes], algorithm: str, position: float, flip: int
) -> None:
    damaged = bytearray(containers[algorithm])
    damaged[int(position * len(damaged))] ^= flip
    assert (await outcome(bytes(damaged))) in (None, DATA)


@given(algorithm=st.sampled_from(["lz4", "zstd"]), position=st.floats(0, 1, exclude_max=True))
@settings(max_examples=150, deadline=None)
async def test_truncation_anywhere_raises(containers: dict[str, bytes], algorithm: str, position: float) -> None:
    container = containers[algorithm]
    with pytest.raises(CorruptDataError):
        await MemoryCompressor().decompress(container[: int(position * len(container))])


async def test_damaged_frame_names_its_chunk(containers: dict[str, bytes]) -> None:
    container = CompressedData.from_bytes(containers["lz4"])
    third = container.metadata.chunks[3]
    damaged = bytearray(containers["lz4"])
    damaged[third.offset + third.compressed_size // 2] ^= 0xFF
    with pytest.raises(CorruptDataError) as raised:
        await MemoryCompressor().decompress(bytes(damaged))
    assert raised.value.location == "chunk 3"


async def test_truncation_inside_a_chunk_names_it(containers: dict[str, bytes]) -> None:
    chunk = CompressedData.from_bytes(containers["zstd"]).metadata.chunks[2]
    with pytest.raises(CorruptDataError) as raised:
        CompressedData.from_bytes(containers["zstd"][: chunk.offset + 5])
    assert raised.value.location == "chunk 2"


async def test_damaged_header_is_reported_as_header(containers: dict[str, bytes]) -> None:
    damaged = bytearray(containers["lz4"])
    damaged[12] ^= 0x01
    with pytest.raises(CorruptDataError) as raised:
        CompressedData.from_bytes(bytes(damaged))
    assert raised.value.location == "header"


async def test_missing_trailer_is_reported(containers: dict[str, bytes]) -> None:
    last = CompressedData.from_bytes(containers["lz4"]).metadata.chunks[-1]
    with pytest.raises(CorruptDataError, match="truncated"):
        CompressedData.from_bytes(containers["lz4"][: last.offset + last.compressed_size])


async def test_bytes_after_the_trailer_are_rejected(containers: dict[str, bytes]) -> None:
    with pytest.raises(CorruptDataError) as raised:
        CompressedData.from_bytes(containers["lz4"] + b"\x00")
    assert raised.value.location == "trailer"


async def test_swapped_chunks_are_detected(containers: dict[str, bytes]) -> None:
    container = CompressedData.from_bytes(containers["lz4"])
    frames = list(container.frames)
    frames[0], frames[1] = frames[1], frames[0]
    swapped = CompressedData(container.header, container.metadata.chunks, frames)
    with pytest.raises(CorruptDataError) as raised:
        await MemoryCompressor().decompress(swapped)
    assert raised.value.location == "chunk 0"


async def test_corrupt_inputs_are_counted(containers: dict[str, bytes]) -> None:
    compressor = MemoryCompressor()
    with pytest.raises(CorruptDataError):
        await compressor.decompress(containers["lz4"][:-3])
    assert compressor.stats().corrupt_inputs == 1
