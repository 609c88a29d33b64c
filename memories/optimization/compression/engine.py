"""The thread pool that encodes and decodes chunks in parallel, in order, with bounded memory."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor

from memories.errors import CorruptDataError
from memories.optimization.compression.config import LosslessSettings
from memories.optimization.compression.container import ChunkInfo
from memories.optimization.compression.frames import Buffer, EncodedChunk, decode_chunk, encode_chunk
from memories.optimization.compression.pipeline import ordered_map


def decode_table_row(algorithm: str, row: tuple[ChunkInfo, Buffer]) -> bytes:
    """Verify and decode one chunk; a failure names the chunk index (runs in a worker thread)."""
    info, frame = row
    try:
        return decode_chunk(algorithm, frame, info.original_size, info.checksum, info.frame_checksum)
    except CorruptDataError as error:
        raise CorruptDataError(str(error), location=f"chunk {info.index}") from error


class ChunkEngine:
    """Runs chunk codecs on ``settings.workers`` threads (lz4, zstd and xxhash release the GIL).

    At most two chunks per worker are in flight, so memory stays near
    ``2 × workers × chunk_size`` whatever the input's length.
    """

    def __init__(self, settings: LosslessSettings) -> None:
        self.settings = settings
        self._executor: ThreadPoolExecutor | None = None

    @property
    def in_flight_limit(self) -> int:
        """Most chunks encoded or decoded at once."""
        return 2 * self.settings.workers

    def executor(self) -> ThreadPoolExecutor:
        """The worker pool, created on first use."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="memories-compression")
        return self._executor

    def encode(self, chunks: AsyncIterable[Buffer] | Iterable[Buffer]) -> AsyncIterator[EncodedChunk]:
        """Compress each chunk into a frame, in order."""
        function = functools.partial(encode_chunk, self.settings.algorithm, self.settings.level)
        return ordered_map(function, chunks, self.executor(), self.in_flight_limit)

    def decode(
        self, algorithm: str, rows: AsyncIterable[tuple[ChunkInfo, Buffer]] | Iterable[tuple[ChunkInfo, Buffer]]
    ) -> AsyncIterator[bytes]:
        """Verify and decode each (table row, frame), in order; raises CorruptDataError naming the chunk."""
        function = functools.partial(decode_table_row, algorithm)
        return ordered_map(function, rows, self.executor(), self.in_flight_limit)

    def close(self) -> None:
        """Stop the worker threads (after the chunks being processed finish)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
