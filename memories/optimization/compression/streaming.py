"""Streaming compression and decompression with bounded memory, and the file helpers built on them.

The container needs no seeking: each chunk record says how long its frame is and the trailer
comes last, so a container is written and read front to back. Memory stays near
``2 × workers × chunk_size`` for inputs of any length.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from memories.errors import CorruptDataError
from memories.optimization.compression.container import ChunkInfo, ContainerHeader, ContainerWriter
from memories.optimization.compression.engine import ChunkEngine
from memories.optimization.compression.frames import Buffer
from memories.optimization.compression.inputs import file_chunks
from memories.optimization.compression.parser import ContainerParser, ParsedChunk
from memories.optimization.compression.pipeline import rechunk

WRITE_BATCH_SIZE = 1 << 20
READ_SIZE = 1 << 20


async def compress_stream(engine: ChunkEngine, pieces: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Yield a container for the concatenation of ``pieces``: header, then record and frame per chunk, then trailer."""
    settings = engine.settings
    writer = ContainerWriter(ContainerHeader(settings.algorithm, settings.level, settings.chunk_size))
    yield writer.header_record
    async for encoded in engine.encode(rechunk(pieces, settings.chunk_size)):
        yield writer.add(encoded)
        yield encoded.frame
    yield writer.trailer()


async def container_rows(
    parser: ContainerParser, pieces: AsyncIterable[bytes]
) -> AsyncIterator[tuple[ChunkInfo, Buffer]]:
    """Feed ``pieces`` to ``parser`` and yield each chunk's (table row, frame) as soon as it is complete.

    Raises CorruptDataError when the stream ends early or continues past the trailer.
    """
    buffer = bytearray()
    async for piece in pieces:
        if parser.finished and piece:
            raise CorruptDataError("unexpected bytes after the trailer", location="trailer")
        buffer += piece
        while not parser.finished and len(buffer) >= parser.need:
            with memoryview(buffer) as view:
                block = bytes(view[: parser.need])
            del buffer[: len(block)]
            item = parser.feed(block)
            if isinstance(item, ParsedChunk):
                yield item.info, item.frame
        if parser.finished and buffer:
            raise CorruptDataError(f"{len(buffer)} unexpected bytes after the trailer", location="trailer")
    if not parser.finished:
        raise parser.truncated()


async def decompress_stream(engine: ChunkEngine, pieces: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Yield the original bytes of a container stream, chunk by chunk, each verified before it is yielded.

    A truncated stream raises CorruptDataError after the chunks that arrived whole were yielded.
    """
    parser = ContainerParser()
    rows = container_rows(parser, pieces)
    first = await anext(rows, None)
    if first is None:
        return
    assert parser.header is not None

    async def all_rows() -> AsyncIterator[tuple[ChunkInfo, Buffer]]:
        yield first
        async for row in rows:
            yield row

    async for data in engine.decode(parser.header.algorithm, all_rows()):
        yield data


async def read_file_pieces(path: str | os.PathLike[str]) -> AsyncIterator[bytes]:
    """Yield a file's bytes in 1 MiB pieces, reading in a thread."""
    file: BinaryIO = await asyncio.to_thread(open, path, "rb")
    try:
        async for piece in file_chunks(file, READ_SIZE):
            yield piece
    finally:
        await asyncio.to_thread(file.close)


async def write_file_atomically(pieces: AsyncIterator[bytes], path: str | os.PathLike[str]) -> int:
    """Write ``pieces`` to ``path`` through a temporary file renamed at the end; return the bytes written.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    written = 0
    batch: list[bytes] = []
    file: BinaryIO = await asyncio.to_thread(open, temporary, "wb")
    try:
        async for piece in pieces:
            batch.append(piece)
            written += len(piece)
            if sum(len(part) for part in batch) >= WRITE_BATCH_SIZE:
                await asyncio.to_thread(file.writelines, batch)
                batch = []
        await asyncio.to_thread(file.writelines, batch)
        await asyncio.to_thread(file.flush)
        await asyncio.to_thread(os.fsync, file.fileno())
        await asyncio.to_thread(file.close)
        await asyncio.to_thread(os.replace, temporary, target)
    except BaseException:
        file.close()
        temporary.unlink(missing_ok=True)
        raise
    return written
