"""Byte streams in and out of the Deduplicator: files, binary file objects and async byte iterators.

An input of any size is read in pieces of at most ``READ_BYTES``, chunked as it arrives (FastCDC with
``final=False`` keeps the unsettled tail for the next piece, see chunking.py) and its new blocks are
stored a segment at a time, so memory stays bounded by a few segments plus the recipe's block ids
(16 to 32 bytes per block, plus Python's per-object overhead: about 60 bytes per 4 KiB block).

``Segments`` is what the Deduplicator's pipeline reads: a stream's pieces gathered into segments
(``StreamSegments``) or windows over an input already in memory (``WindowSegments``, no copies).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

import xxhash

READ_BYTES = 8 * 1024 * 1024
# An input already in memory is processed in windows this large: large enough for the chunker's threads and
# huge-page arenas, small enough to overlap cutting with storing (1 GiB CDC, 2 cores: 1.08 s per GiB in 64 MiB
# windows, 1.41 s in 8 MiB ones, 1.20 s in one window).
WINDOW_BYTES = 64 * 1024 * 1024
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


class Segments(Protocol):
    """Consecutive segments of one input: ``segment`` gives the next one, ``advance`` says how much of it was used."""

    async def segment(self) -> tuple[memoryview, bool]:
        """Return the input from the first unused byte on (a segment's worth unless the input ends first, more
        after an ``advance(0)``) and whether that is the end of the input. Raises like ``pieces_of``."""
        ...

    def advance(self, consumed: int) -> None:
        """Mark the first ``consumed`` bytes of the last segment used; the next segment starts after them."""
        ...


class WindowSegments:
    """Windows of ``WINDOW_BYTES`` over an input already in memory (no copies)."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._start = 0
        self._length = WINDOW_BYTES

    async def segment(self) -> tuple[memoryview, bool]:
        stop = self._start + self._length
        return self._view[self._start : stop], stop >= len(self._view)

    def advance(self, consumed: int) -> None:
        self._start += consumed
        # Nothing used (a chunk can be longer than a segment): offer a longer window next time.
        self._length = WINDOW_BYTES if consumed else self._length + WINDOW_BYTES


class StreamSegments:
    """A stream's pieces gathered into segments; the unused tail of one is copied to the start of the next.

    ``size`` and ``digest`` (XXH3-128 of everything read) are complete once the last segment was given.
    """

    def __init__(self, source: ByteSource) -> None:
        self._pieces = aiter(pieces_of(source))
        self._pending = bytearray()
        self._wanted = READ_BYTES
        self._ended = False
        self._whole = xxhash.xxh3_128()
        self.size = 0

    def hexdigest(self) -> str:
        """XXH3-128 hex digest of the bytes read so far (the whole input once it ended)."""
        return self._whole.hexdigest()

    async def segment(self) -> tuple[memoryview, bool]:
        while len(self._pending) < self._wanted and not self._ended:
            try:
                piece = await anext(self._pieces)
            except StopAsyncIteration:
                self._ended = True
                break
            self._whole.update(piece)
            self._pending += piece
            self.size += len(piece)
        return memoryview(self._pending), self._ended

    def advance(self, consumed: int) -> None:
        # A new buffer: the last segment's view may still be in use (its blocks being stored).
        self._pending = bytearray(memoryview(self._pending)[consumed:])
        self._wanted = READ_BYTES if consumed else len(self._pending) + READ_BYTES
