"""Interoperability with the real ``lz4`` and ``zstd`` command-line tools."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from memories.errors import CorruptDataError
from memories.optimization.compression import CompressedData, MemoryCompressor, decode_frame

DATA = b"".join(f"id={index},lat={index * 0.37:.3f},label=tile-{index % 50}\n".encode() for index in range(20_000))
CLI = {"lz4": "lz4", "zstd": "zstd"}


def run_cli(algorithm: str, arguments: list[str], data: bytes) -> bytes:
    binary = shutil.which(CLI[algorithm])
    if binary is None:
        pytest.fail(f"the {CLI[algorithm]} CLI is not installed; .ci/run installs it")
    return subprocess.run([binary, *arguments], input=data, capture_output=True, check=True).stdout


@pytest.mark.parametrize(("algorithm", "level"), [("lz4", 0), ("lz4", 9), ("zstd", 3)])
async def test_each_chunk_frame_decodes_with_the_cli(algorithm: str, level: int) -> None:
    compressed = await MemoryCompressor(algorithm, level, chunk_size="64KB").compress(DATA)
    assert len(compressed.frames) > 1
    for chunk, frame in zip(compressed.metadata.chunks, compressed.frames, strict=True):
        original = DATA[chunk.original_offset : chunk.original_offset + chunk.original_size]
        assert run_cli(algorithm, ["-d", "-c"], bytes(frame)) == original


@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
async def test_concatenated_frames_decode_with_the_cli(algorithm: str) -> None:
    compressed = await MemoryCompressor(algorithm, chunk_size="64KB").compress(DATA)
    assert run_cli(algorithm, ["-d", "-c"], b"".join(compressed.frames)) == DATA


@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
async def test_whole_container_decodes_with_the_cli(algorithm: str) -> None:
    container = (await MemoryCompressor(algorithm, chunk_size="64KB").compress(DATA, metadata={"a": 1})).to_bytes()
    assert run_cli(algorithm, ["-d", "-c"], container) == DATA


@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
async def test_cli_integrity_check_accepts_the_container(algorithm: str) -> None:
    container = (await MemoryCompressor(algorithm, chunk_size="64KB").compress(DATA)).to_bytes()
    run_cli(algorithm, ["-t"], container)


@pytest.mark.parametrize(
    ("algorithm", "arguments"), [("lz4", ["-1", "-c"]), ("lz4", ["-9", "-c"]), ("zstd", ["-3", "-c"])]
)
def test_cli_compressed_frame_is_read_by_decode_frame(algorithm: str, arguments: list[str]) -> None:
    assert decode_frame(algorithm, run_cli(algorithm, arguments, DATA)) == DATA


def test_decode_frame_rejects_garbage() -> None:
    with pytest.raises(CorruptDataError):
        decode_frame("lz4", b"\x04\x22\x4d\x18garbage")


async def test_container_from_bytes_reads_frames_equal_to_cli_output() -> None:
    container = (await MemoryCompressor("zstd", chunk_size="64KB").compress(DATA)).to_bytes()
    parsed = CompressedData.from_bytes(container)
    assert b"".join(run_cli("zstd", ["-d", "-c"], bytes(frame)) for frame in parsed.frames) == DATA
