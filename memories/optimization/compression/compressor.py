"""MemoryCompressor: the seed's compression API (lossless lz4/zstd, lossy JPEG 2000)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy

from memories.errors import ConfigError, CorruptDataError
from memories.optimization.compression.config import LOSSLESS_ALGORITHMS, lossless_settings, validate_algorithm
from memories.optimization.compression.container import ContainerHeader, ContainerWriter
from memories.optimization.compression.data import CompressedData
from memories.optimization.compression.engine import ChunkEngine
from memories.optimization.compression.frames import Buffer, EncodedChunk
from memories.optimization.compression.inputs import (
    NDArray,
    array_bytes,
    array_info,
    buffer_bytes,
    chunk_views,
    file_chunks,
    is_binary_file,
    is_path,
    restore_array,
    user_info,
)
from memories.optimization.compression.pipeline import ByteCounter
from memories.optimization.compression.stats import CompressionStats, StatsRecorder
from memories.optimization.compression.streaming import (
    compress_stream,
    decompress_stream,
    read_file_pieces,
    write_file_atomically,
)
from memories.units import Size

if TYPE_CHECKING:
    from memories.optimization.compression.images import CompressedImages, Jpeg2000Codec


class MemoryCompressor:
    """Compress data losslessly into chunked LZ4/zstd containers, or images lossily into JPEG 2000.

    ``algorithm``: "lz4" (``level`` 0–16, 3 and above is LZ4 HC; default 0), "zstd" (``level``
    1–22 or negative fast levels; default 3) or "jpeg2000" (``quality`` 0–100 and/or
    ``target_size`` in bytes or a size string; used by :meth:`compress_images`).
    ``chunk_size``: bytes per independently compressed chunk (int or "64MB"); chunks are
    compressed on ``workers`` threads (default: one per usable CPU). Any compressor decompresses
    containers of any lossless algorithm. Raises ConfigError naming the invalid field.
    """

    def __init__(
        self,
        algorithm: str = "lz4",
        level: int | None = None,
        chunk_size: Size = "64MB",
        *,
        quality: int | None = None,
        target_size: Size | None = None,
        workers: int | None = None,
    ) -> None:
        self.algorithm = validate_algorithm(algorithm)
        lossless = algorithm in LOSSLESS_ALGORITHMS
        if not lossless and level is not None:
            raise ConfigError(f"level: jpeg2000 uses quality and target_size, not level (got {level!r})")
        for name, value in (("quality", quality), ("target_size", target_size)):
            if lossless and value is not None:
                raise ConfigError(f"{name}: only the jpeg2000 algorithm accepts it (algorithm is {algorithm!r})")
        self.settings = lossless_settings(algorithm if lossless else "lz4", level, chunk_size, workers)
        self.level = self.settings.level if lossless else None
        self.chunk_size = self.settings.chunk_size
        self._engine = ChunkEngine(self.settings)
        self._stats = StatsRecorder()
        self._image_codec: Jpeg2000Codec | None = None
        if not lossless:
            from memories.optimization.compression.images import Jpeg2000Codec

            self._image_codec = Jpeg2000Codec(quality, target_size, workers=self.settings.workers)

    def __repr__(self) -> str:
        return f"MemoryCompressor(algorithm={self.algorithm!r}, level={self.level}, chunk_size={self.chunk_size})"

    async def compress(self, data: object, metadata: bool | Mapping[str, Any] = True) -> CompressedData:
        """Compress ``data`` into a :class:`CompressedData` container.

        ``data``: bytes-like (any buffer), a numpy array (any non-object dtype and layout), a file
        path (``str``/``os.PathLike``) or a binary file object. ``metadata``: True records the
        array dtype/shape; a mapping additionally stores it as JSON user metadata; False records
        neither (sizes and checksums are always kept; arrays then decompress to bytes).
        Raises TypeError for unsupported data, ConfigError for lossy compressors or bad metadata,
        OSError for unreadable files.
        """
        self._require_lossless("compress")
        info: dict[str, Any] = {}
        user = user_info(metadata)
        if metadata and user:
            info["user"] = user
        started = time.perf_counter()
        if is_path(data):
            file = await asyncio.to_thread(Path(data).open, "rb")
            try:
                compressed = await self._compress_chunks(file_chunks(file, self.chunk_size), info)
            finally:
                file.close()
        elif is_binary_file(data):
            compressed = await self._compress_chunks(file_chunks(data, self.chunk_size), info)
        else:
            if isinstance(data, numpy.ndarray):
                view = array_bytes(data)
                if metadata:
                    info.update(array_info(data))
            else:
                view = buffer_bytes(data)
            compressed = await self._compress_chunks(chunk_views(view, self.chunk_size), info)
        elapsed = time.perf_counter() - started
        self._stats.record("compress", compressed.original_size, compressed.compressed_size, elapsed)
        return compressed

    async def _compress_chunks(
        self, chunks: AsyncIterable[Buffer] | Iterable[Buffer], info: dict[str, Any]
    ) -> CompressedData:
        header = ContainerHeader(self.settings.algorithm, self.settings.level, self.chunk_size, info)
        writer = ContainerWriter(header)
        frames: list[bytes] = []
        encoded: EncodedChunk
        async for encoded in self._engine.encode(chunks):
            writer.add(encoded)
            frames.append(encoded.frame)
        return CompressedData(header, writer.chunks, frames)

    async def decompress(self, compressed: CompressedData | Buffer) -> bytes | NDArray:
        """Return exactly the original data: bytes, or an equal (writable) numpy array for arrays.

        ``compressed``: a :class:`CompressedData` or its :meth:`~CompressedData.to_bytes` form.
        Raises CorruptDataError (``location`` "header", "chunk N" or "trailer") instead of
        ever returning wrong bytes.
        """
        started = time.perf_counter()
        try:
            container = compressed if isinstance(compressed, CompressedData) else CompressedData.from_bytes(compressed)
            meta = container.metadata
            rows = zip(meta.chunks, container.frames, strict=True)
            parts = [part async for part in self._engine.decode(meta.algorithm, rows)]
        except CorruptDataError:
            self._stats.record_corrupt_input()
            raise
        result: bytes | NDArray
        if meta.dtype is not None and meta.shape is not None:
            buffer = bytearray(meta.original_size)
            for chunk, part in zip(meta.chunks, parts, strict=True):
                buffer[chunk.original_offset : chunk.original_offset + chunk.original_size] = part
            del parts
            result = restore_array(buffer, meta.dtype, meta.shape)
        else:
            result = b"".join(parts)
        elapsed = time.perf_counter() - started
        self._stats.record("decompress", container.compressed_size, meta.original_size, elapsed)
        return result

    async def compress_stream(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Yield the container of the concatenated ``chunks`` incrementally (memory ≈ 2 × workers × chunk_size).

        The output is the same format :meth:`CompressedData.from_bytes` reads.
        """
        self._require_lossless("compress_stream")
        started, consumed, produced = time.perf_counter(), ByteCounter(), ByteCounter()
        async for piece in produced.through(compress_stream(self._engine, consumed.through(chunks))):
            yield piece
        self._stats.record("compress", consumed.total, produced.total, time.perf_counter() - started)

    async def decompress_stream(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Yield the original bytes of a streamed container, each chunk verified before it is yielded.

        Raises CorruptDataError naming the chunk; chunks already yielded were verified, but the
        stream as a whole is known complete only when iteration ends without error.
        """
        started, consumed, produced = time.perf_counter(), ByteCounter(), ByteCounter()
        try:
            async for piece in produced.through(decompress_stream(self._engine, consumed.through(chunks))):
                yield piece
        except CorruptDataError:
            self._stats.record_corrupt_input()
            raise
        self._stats.record("decompress", consumed.total, produced.total, time.perf_counter() - started)

    async def compress_file(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> int:
        """Compress file ``src`` into a container file ``dst`` (written atomically); return its size in bytes."""
        return await write_file_atomically(self.compress_stream(read_file_pieces(src)), dst)

    async def decompress_file(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> int:
        """Restore container file ``src`` into ``dst`` (written atomically, only if fully verified); return bytes written."""
        return await write_file_atomically(self.decompress_stream(read_file_pieces(src)), dst)

    async def compress_images(self, images: object, preserve_metadata: bool = True) -> CompressedImages:
        """Encode images (arrays or image files) as JPEG 2000; see :class:`~.images.Jpeg2000Codec`."""
        if self._image_codec is None:
            raise ConfigError(f"algorithm: compress_images needs algorithm='jpeg2000', not {self.algorithm!r}")
        return await asyncio.to_thread(self._image_codec.encode, images, preserve_metadata)

    async def decompress_images(self, compressed: CompressedImages) -> list[NDArray]:
        """Decode images produced by :meth:`compress_images`."""
        from memories.optimization.compression.images import Jpeg2000Codec

        codec = self._image_codec or Jpeg2000Codec()
        return await asyncio.to_thread(codec.decode, compressed)

    def stats(self) -> CompressionStats:
        """Totals of completed operations (bytes, seconds) and of corrupt inputs rejected."""
        return self._stats.snapshot()

    def close(self) -> None:
        """Stop the worker threads; the compressor restarts them if used again."""
        self._engine.close()

    async def __aenter__(self) -> MemoryCompressor:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _require_lossless(self, operation: str) -> None:
        if self.algorithm not in LOSSLESS_ALGORITHMS:
            raise ConfigError(f"algorithm: {operation} is lossless (lz4, zstd); jpeg2000 is for compress_images")
