"""Byte streams in and out of the Deduplicator: files, binary file objects and async byte iterators.

An input of any size is read in pieces of at most ``READ_BYTES``, chunked as it arrives (FastCDC with
``final=False`` keeps the unsettled tail for the next piece, see chunking.py) and its new blocks are
stored a segment at a time, so memory stays bounded by a few segments plus the recipe's block ids
(16 to 32 bytes per block, plus Python's per-object overhead: about 60 bytes per 4 KiB block).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

READ_BYTES = 8 * 1024 * 1024
# Restored data is written out in runs of blocks of about this many bytes.
WRITE_BYTES = 8 * 1024 * 1024


class _ReadsPieces(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Writes(Protocol):
    def write(self, data: bytes, /) -> object: ...


ByteSource = str | os.PathLike[str] | _ReadsPieces | AsyncIterable[bytes | bytearray | memoryview]
ByteSink = str | os.PathLike[str] | _Writes


async def pieces_of(source: ByteSource) -> AsyncIterator[bytes | bytearray | memoryview]:
    """Yield the bytes of ``source`` in pieces of at most ``READ_BYTES`` (async iterators: as they come).

    Files are read in a worker thread. Raises TypeError for anything else, FileNotFoundError for a
    missing file.
    """
    if isinstance(source, str | os.PathLike):
        file = await asyncio.to_thread(Path(source).open, "rb")
        try:
            async for piece in _pieces_of_file(file):
                yield piece
        finally:
            await asyncio.to_thread(file.close)
    elif isinstance(source, AsyncIterable):
        async for item in source:
            if not isinstance(item, bytes | bytearray | memoryview):
                raise TypeError(f"source: an async iterator must yield bytes-like pieces, got {type(item).__name__}")
            yield item
    elif hasattr(source, "read"):
        async for piece in _pieces_of_file(source):
            yield piece
    else:
        raise TypeError(
            f"source: expected a file path, a binary file or an async iterator of bytes, got {type(source).__name__}"
        )


async def _pieces_of_file(file: _ReadsPieces | BinaryIO) -> AsyncIterator[bytes]:
    while True:
        piece = await asyncio.to_thread(file.read, READ_BYTES)
        if not isinstance(piece, bytes | bytearray):
            raise TypeError(f"source: a file object must be opened in binary mode, read() gave {type(piece).__name__}")
        if not piece:
            return
        yield piece
