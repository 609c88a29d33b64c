"""The container records: byte layout of header, chunk and trailer records (see docs/container-format.md).

Every record is an LZ4/zstd *skippable frame* (magic ``0x184D2A5E``), so the ``lz4`` and
``zstd`` CLIs skip them and decode a whole container to the original bytes. All integers
are little-endian; every record payload ends with the XXH3-64 of the rest of the payload.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memories.errors import CorruptDataError
from memories.optimization.compression.frames import EncodedChunk, checksum

SKIPPABLE_MAGIC = 0x184D2A5E
FORMAT_VERSION = 1
PREFIX = struct.Struct("<II")  # skippable magic, payload size
HEADER_TAG, CHUNK_TAG, TRAILER_TAG = b"MZHD", b"MZCK", b"MZTR"
HEADER_FIELDS = struct.Struct("<4sBBBBiQI")  # tag, version, algorithm, flags, reserved, level, chunk_size, info size
CHUNK_FIELDS = struct.Struct("<4sQQQQQ")  # tag, index, original size, frame size, original xxh3, frame xxh3
TRAILER_FIELDS = struct.Struct("<4sQQQ")  # tag, chunk count, original size, frames size
TABLE_ENTRY = struct.Struct("<QQQQ")  # frame offset, original size, frame size, original xxh3
TRAILER_END = struct.Struct("<Q")  # size of the whole trailer record, for readers that start from the end
CHECKSUM = struct.Struct("<Q")

CHUNK_PAYLOAD_SIZE = CHUNK_FIELDS.size + CHECKSUM.size
MAX_INFO_SIZE = 1 << 20
FLAG_DESCRIPTIVE_INFO = 0x01
ALGORITHM_CODES = {"lz4": 1, "zstd": 2}
ALGORITHM_NAMES = {code: name for name, code in ALGORITHM_CODES.items()}


@dataclass(frozen=True)
class ContainerHeader:
    """What the header record holds: algorithm, level, nominal chunk size (bytes) and descriptive info.

    ``info`` is the JSON object of descriptive metadata (``dtype``, ``shape``, ``user``); it is
    empty when the data was compressed with ``metadata=False``.
    """

    algorithm: str
    level: int
    chunk_size: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkInfo:
    """One row of the chunk table. Offsets and sizes are bytes; checksums are XXH3-64.

    ``offset`` is where the chunk's frame starts in the container; ``original_offset`` is
    where its bytes start in the original data.
    """

    index: int
    offset: int
    original_offset: int
    original_size: int
    compressed_size: int
    checksum: int
    frame_checksum: int


def max_frame_size(original_size: int) -> int:
    """Upper bound (bytes) of an LZ4 or zstd frame holding ``original_size`` bytes."""
    return original_size + original_size // 64 + 1024


def seal(payload: bytes) -> bytes:
    """Wrap ``payload`` in a skippable frame after appending its XXH3-64."""
    body = payload + CHECKSUM.pack(checksum(payload))
    return PREFIX.pack(SKIPPABLE_MAGIC, len(body)) + body


def unseal(payload: memoryview, location: str) -> memoryview:
    """Return the payload without its checksum, or raise CorruptDataError at ``location``."""
    if len(payload) < CHECKSUM.size:
        raise CorruptDataError("record too short", location=location)
    body = payload[: -CHECKSUM.size]
    (expected,) = CHECKSUM.unpack(payload[-CHECKSUM.size :])
    if checksum(body) != expected:
        raise CorruptDataError("record checksum mismatch", location=location)
    return body


def encode_header(header: ContainerHeader) -> bytes:
    """Return the header record."""
    info = json.dumps(header.info, separators=(",", ":"), sort_keys=True).encode() if header.info else b""
    flags = FLAG_DESCRIPTIVE_INFO if info else 0
    code = ALGORITHM_CODES[header.algorithm]
    fields = HEADER_FIELDS.pack(HEADER_TAG, FORMAT_VERSION, code, flags, 0, header.level, header.chunk_size, len(info))
    return seal(fields + info)


def decode_header(payload: memoryview) -> ContainerHeader:
    """Parse a header record payload; raise CorruptDataError (location "header") if it is invalid."""
    body = unseal(payload, "header")
    if len(body) < HEADER_FIELDS.size:
        raise CorruptDataError("header record too short", location="header")
    tag, version, code, flags, reserved, level, chunk_size, info_size = HEADER_FIELDS.unpack(body[: HEADER_FIELDS.size])
    if tag != HEADER_TAG:
        raise CorruptDataError("not a memories container (bad header tag)", location="header")
    if version != FORMAT_VERSION:
        raise CorruptDataError(f"unsupported container version {version}", location="header")
    if code not in ALGORITHM_NAMES or reserved != 0 or flags & ~FLAG_DESCRIPTIVE_INFO:
        raise CorruptDataError("unknown algorithm or flags", location="header")
    info_bytes = bytes(body[HEADER_FIELDS.size :])
    if len(info_bytes) != info_size or bool(flags & FLAG_DESCRIPTIVE_INFO) != bool(info_size) or chunk_size == 0:
        raise CorruptDataError("inconsistent header sizes", location="header")
    try:
        info = json.loads(info_bytes) if info_bytes else {}
    except ValueError as error:
        raise CorruptDataError(f"descriptive info is not JSON: {error}", location="header") from error
    if not isinstance(info, dict):
        raise CorruptDataError("descriptive info is not a JSON object", location="header")
    return ContainerHeader(ALGORITHM_NAMES[code], level, chunk_size, info)


def encode_chunk_record(chunk: ChunkInfo) -> bytes:
    """Return the record that precedes a chunk's frame."""
    return seal(
        CHUNK_FIELDS.pack(
            CHUNK_TAG,
            chunk.index,
            chunk.original_size,
            chunk.compressed_size,
            chunk.checksum,
            chunk.frame_checksum,
        )
    )


def decode_chunk_record(payload: memoryview, index: int, offset: int, original_offset: int) -> ChunkInfo:
    """Parse the record of chunk ``index`` whose frame starts at ``offset``; raise CorruptDataError ("chunk N")."""
    location = f"chunk {index}"
    body = unseal(payload, location)
    tag, stored_index, original_size, frame_size, original_checksum, frame_checksum = CHUNK_FIELDS.unpack(body)
    if tag != CHUNK_TAG or stored_index != index:
        raise CorruptDataError("bad chunk record tag or index", location=location)
    return ChunkInfo(index, offset, original_offset, original_size, frame_size, original_checksum, frame_checksum)


def trailer_payload_size(chunk_count: int) -> int:
    """Size (bytes) of the trailer payload of a container with ``chunk_count`` chunks."""
    return TRAILER_FIELDS.size + chunk_count * TABLE_ENTRY.size + TRAILER_END.size + CHECKSUM.size


def encode_trailer(chunks: Sequence[ChunkInfo]) -> bytes:
    """Return the trailer record: totals, the chunk table and the trailer's own size."""
    original_size = sum(chunk.original_size for chunk in chunks)
    frames_size = sum(chunk.compressed_size for chunk in chunks)
    table = b"".join(
        TABLE_ENTRY.pack(chunk.offset, chunk.original_size, chunk.compressed_size, chunk.checksum) for chunk in chunks
    )
    record_size = PREFIX.size + trailer_payload_size(len(chunks))
    return seal(
        TRAILER_FIELDS.pack(TRAILER_TAG, len(chunks), original_size, frames_size)
        + table
        + TRAILER_END.pack(record_size)
    )


def verify_trailer(payload: memoryview, chunks: Sequence[ChunkInfo]) -> None:
    """Check that the trailer agrees with the chunks read; raise CorruptDataError (location "trailer")."""
    body = unseal(payload, "trailer")
    if bytes(body) + CHECKSUM.pack(checksum(body)) != encode_trailer(chunks)[PREFIX.size :]:
        raise CorruptDataError("trailer totals or chunk table disagree with the chunks", location="trailer")


def chunk_info(index: int, offset: int, original_offset: int, encoded: EncodedChunk) -> ChunkInfo:
    """Return the table row of an encoded chunk whose frame starts at ``offset`` in the container."""
    return ChunkInfo(
        index=index,
        offset=offset,
        original_offset=original_offset,
        original_size=encoded.original_size,
        compressed_size=len(encoded.frame),
        checksum=encoded.original_checksum,
        frame_checksum=encoded.frame_checksum,
    )


class ContainerWriter:
    """Emit a container record by record, tracking offsets for the chunk table."""

    def __init__(self, header: ContainerHeader) -> None:
        self.header_record = encode_header(header)
        self.chunks: list[ChunkInfo] = []
        self.position = len(self.header_record)
        self.original_position = 0

    def add(self, encoded: EncodedChunk) -> bytes:
        """Register the next chunk and return its record; the caller writes the frame right after it."""
        record_size = PREFIX.size + CHUNK_PAYLOAD_SIZE
        info = chunk_info(len(self.chunks), self.position + record_size, self.original_position, encoded)
        self.chunks.append(info)
        self.position += record_size + info.compressed_size
        self.original_position += info.original_size
        return encode_chunk_record(info)

    def trailer(self) -> bytes:
        """Return the trailer record that closes the container."""
        return encode_trailer(self.chunks)
