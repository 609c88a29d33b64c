"""One chunk ↔ one standard LZ4 or zstd frame, with the checksums the container records.

These functions run in worker threads: lz4.frame, zstandard and xxhash release the GIL
while they work, so chunks compress in parallel on all cores. Inputs are buffers
(memoryview slices of the caller's data), never copied before compression.
"""

from __future__ import annotations

from dataclasses import dataclass

import lz4.frame
import xxhash
import zstandard

from memories.errors import CorruptDataError

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class EncodedChunk:
    """A compressed chunk: its frame and what the container records about it (sizes in bytes)."""

    frame: bytes
    original_size: int
    original_checksum: int
    frame_checksum: int


def checksum(data: Buffer) -> int:
    """XXH3-64 of ``data`` as an unsigned int."""
    return int(xxhash.xxh3_64_intdigest(data))


def compress_frame(algorithm: str, level: int, data: Buffer) -> bytes:
    """Return ``data`` as one standard frame that ``lz4 -d`` / ``zstd -d`` decode on its own.

    lz4 frames use 4 MiB linked blocks and record the content size; the frame's own content
    checksum is left out because the container keeps an XXH3-64 of every chunk instead.
    """
    if algorithm == "lz4":
        return bytes(
            lz4.frame.compress(
                data,
                compression_level=level,
                block_size=lz4.frame.BLOCKSIZE_MAX4MB,
                content_checksum=False,
                store_size=True,
            )
        )
    compressor = zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=False)
    # zstandard returns a bytes object that keeps its worst-case allocation (compressBound of
    # the input): copy the frame out so each held frame costs only its real size.
    return bytes(memoryview(compressor.compress(data)))


def encode_chunk(algorithm: str, level: int, data: Buffer) -> EncodedChunk:
    """Compress one chunk and compute its checksums (runs in a worker thread)."""
    frame = compress_frame(algorithm, level, data)
    return EncodedChunk(
        frame=frame,
        original_size=memoryview(data).nbytes,
        original_checksum=checksum(data),
        frame_checksum=checksum(frame),
    )


def decode_frame(algorithm: str, frame: Buffer, *, max_size: int | None = None) -> bytes:
    """Decode one standard LZ4 or zstd frame (ours or one written by the ``lz4``/``zstd`` CLIs).

    ``max_size`` (bytes) bounds the output of zstd frames that carry no content size.
    Raises CorruptDataError when the frame is malformed, and ValueError for an unknown algorithm.
    """
    try:
        if algorithm == "lz4":
            return bytes(lz4.frame.decompress(frame))
        if algorithm == "zstd":
            decompressor = zstandard.ZstdDecompressor()
            if max_size is None:
                return bytes(decompressor.decompressobj().decompress(frame))
            return bytes(decompressor.decompress(frame, max_output_size=max_size))
    except (RuntimeError, zstandard.ZstdError, ValueError) as error:
        raise CorruptDataError(f"{algorithm} frame cannot be decoded: {error}") from error
    raise ValueError(f"algorithm: no lossless frame decoder for {algorithm!r}")


def decode_chunk(
    algorithm: str, frame: Buffer, original_size: int, original_checksum: int, frame_checksum: int
) -> bytes:
    """Verify and decode one chunk of a container (runs in a worker thread).

    The frame checksum is checked before decoding, so a damaged frame is never expanded;
    size and XXH3-64 of the output are checked after. Raises CorruptDataError (without a
    location: the caller knows the chunk index and adds it).
    """
    if checksum(frame) != frame_checksum:
        raise CorruptDataError("frame checksum mismatch")
    data = decode_frame(algorithm, frame, max_size=original_size)
    if len(data) != original_size:
        raise CorruptDataError(f"decoded {len(data)} bytes, expected {original_size}")
    if checksum(data) != original_checksum:
        raise CorruptDataError("content checksum mismatch")
    return data
