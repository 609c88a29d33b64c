"""Incremental, validating reader of the container format.

:class:`ContainerParser` is a small state machine: it says how many bytes it needs next
(:attr:`ContainerParser.need`) and turns exactly that many bytes into the next item. The same
parser serves whole buffers (:func:`parse_container`) and async byte streams, so both read
and check a container identically. Any inconsistency raises CorruptDataError naming the
header, the chunk index or the trailer.
"""

from __future__ import annotations

from dataclasses import dataclass

from memories.errors import CorruptDataError
from memories.optimization.compression.container import (
    CHUNK_PAYLOAD_SIZE,
    HEADER_FIELDS,
    MAX_INFO_SIZE,
    PREFIX,
    SKIPPABLE_MAGIC,
    ChunkInfo,
    ContainerHeader,
    decode_chunk_record,
    decode_header,
    max_frame_size,
    trailer_payload_size,
    verify_trailer,
)
from memories.optimization.compression.frames import Buffer


@dataclass(frozen=True)
class ParsedChunk:
    """A chunk's table row and its (not yet verified) frame bytes."""

    info: ChunkInfo
    frame: Buffer


class ContainerParser:
    """Feed it exactly :attr:`need` bytes at a time; it returns the header, each chunk, then None at the end."""

    def __init__(self) -> None:
        self.header: ContainerHeader | None = None
        self.chunks: list[ChunkInfo] = []
        self.position = 0
        self.original_position = 0
        self.finished = False
        self.need = PREFIX.size
        self._payload_kind: str | None = None
        self._pending: ChunkInfo | None = None

    @property
    def location(self) -> str:
        """Where the parser stands: "header", "chunk N" or "trailer"."""
        if self.header is None:
            return "header"
        if self._pending is not None or self._payload_kind == "chunk":
            return f"chunk {len(self.chunks)}"
        return "trailer" if self._payload_kind == "trailer" or self.finished else f"chunk {len(self.chunks)} or trailer"

    def truncated(self) -> CorruptDataError:
        """The error to raise when the input ends before the container does."""
        return CorruptDataError("container is truncated", location=self.location)

    def feed(self, block: Buffer) -> ContainerHeader | ParsedChunk | None:
        """Consume ``block`` (exactly :attr:`need` bytes) and return the item it completed, if any."""
        view = memoryview(block)
        if len(view) != self.need or self.finished:
            raise ValueError(f"parser expected {self.need} bytes")
        self.position += len(view)
        if self._pending is not None:
            return self._take_frame(view)
        if self._payload_kind is None:
            self._take_prefix(view)
            return None
        return self._take_payload(view)

    def _take_prefix(self, view: memoryview) -> None:
        magic, size = PREFIX.unpack(view)
        if magic != SKIPPABLE_MAGIC:
            raise CorruptDataError("expected a container record", location=self.location)
        if self.header is None:
            if not HEADER_FIELDS.size < size <= HEADER_FIELDS.size + MAX_INFO_SIZE + 8:
                raise CorruptDataError("implausible header size", location="header")
            kind = "header"
        elif size == CHUNK_PAYLOAD_SIZE:
            kind = "chunk"
        elif size == trailer_payload_size(len(self.chunks)):
            kind = "trailer"
        else:
            raise CorruptDataError("record size matches neither a chunk nor the trailer", location=self.location)
        self._payload_kind = kind
        self.need = size

    def _take_payload(self, view: memoryview) -> ContainerHeader | None:
        kind, self._payload_kind = self._payload_kind, None
        self.need = PREFIX.size
        if kind == "header":
            self.header = decode_header(view)
            return self.header
        if kind == "trailer":
            verify_trailer(view, self.chunks)
            self.finished = True
            self.need = 0
            return None
        assert self.header is not None
        info = decode_chunk_record(view, len(self.chunks), self.position, self.original_position)
        if not 0 < info.original_size <= self.header.chunk_size:
            raise CorruptDataError("chunk size is outside the container's chunk size", location=self.location)
        if not 0 < info.compressed_size <= max_frame_size(info.original_size):
            raise CorruptDataError("implausible frame size", location=self.location)
        self._pending = info
        self.need = info.compressed_size
        return None

    def _take_frame(self, view: memoryview) -> ParsedChunk:
        info, self._pending = self._pending, None
        assert info is not None
        self.chunks.append(info)
        self.original_position += info.original_size
        self.need = PREFIX.size
        return ParsedChunk(info, view)


@dataclass(frozen=True)
class ParsedContainer:
    """A whole container read from a buffer: header and chunks, frames as zero-copy slices."""

    header: ContainerHeader
    chunks: list[ParsedChunk]


def parse_container(data: bytes) -> ParsedContainer:
    """Read and check the structure of a complete container (frames are verified when decoded).

    Raises CorruptDataError for truncation, trailing bytes, or any record that does not check.
    """
    parser = ContainerParser()
    view = memoryview(data)
    chunks: list[ParsedChunk] = []
    header: ContainerHeader | None = None
    position = 0
    while not parser.finished:
        if position + parser.need > len(view):
            raise parser.truncated()
        item = parser.feed(view[position : position + parser.need])
        position = parser.position
        if isinstance(item, ParsedChunk):
            chunks.append(item)
        elif item is not None:
            header = item
    if position != len(view):
        raise CorruptDataError(f"{len(view) - position} unexpected bytes after the trailer", location="trailer")
    assert header is not None
    return ParsedContainer(header, chunks)
