"""DedupRecipe: the ordered list of block ids that rebuilds one input, and its binary form.

Binary layout (all integers little-endian), version 1::

    magic       4 bytes  b"MDDR"
    version     u8       1
    id_size     u8       bytes per block id (16 for xxhash, 32 for blake2b/sha256)
    chunking    u8       0 = fixed, 1 = cdc (FastCDC alone, written before runs were cut out),
                         2 = cdc-runs (runs of one byte cut out, FastCDC between; runs.py)
    reserved    u8       0
    size        u64      input length in bytes
    block_size  u32      block size (fixed) or average chunk size (cdc), bytes
    count       u64      number of block ids
    algorithm   u8 length + ASCII name ("xxhash", "blake2b", "sha256")
    input_id    u16 length + UTF-8
    block ids   count * id_size bytes
    checksum    u64      XXH3-64 of everything above

``from_bytes`` raises CorruptDataError (a ValueError) for anything that does not parse or
whose checksum does not match.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import xxhash

from memories.errors import CorruptDataError

MAGIC = b"MDDR"
VERSION = 1
CHUNKING_CODES = {"fixed": 0, "cdc": 1, "cdc-runs": 2}
#: The ``chunking`` a Deduplicator (and the CompressionProfile CRD) takes, and the recipe name of the cuts it makes.
CHUNKING_METHODS = {"fixed": "fixed", "cdc": "cdc-runs"}
_HEADER = struct.Struct("<4sBBBxQIQ")
_CHECKSUM = struct.Struct("<Q")


@dataclass(frozen=True)
class DedupRecipe:
    """How to rebuild one input from the block store.

    ``block_ids`` are in input order (a block appears once per occurrence). ``new_bytes``
    and ``new_blocks`` are what this ``process`` call added to the store; they are set when
    ``track_savings=True`` and are None otherwise and after ``from_bytes``.
    """

    input_id: str
    size: int
    hash_algorithm: str
    chunking: str
    block_size: int
    block_ids: tuple[bytes, ...]
    new_bytes: int | None = field(default=None, compare=False)
    new_blocks: int | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        """Everything but the block ids themselves, which can be millions (and CPython 3.11's ``asyncio.run``
        computes the repr of its task's result twice)."""
        return (
            f"DedupRecipe(input_id={self.input_id!r}, size={self.size}, hash_algorithm={self.hash_algorithm!r}, "
            f"chunking={self.chunking!r}, block_size={self.block_size}, total_blocks={self.total_blocks}, "
            f"new_bytes={self.new_bytes}, new_blocks={self.new_blocks})"
        )

    @property
    def total_blocks(self) -> int:
        """Number of blocks (with repeats) that make up the input."""
        return len(self.block_ids)

    @property
    def duplicate_bytes(self) -> int | None:
        """Bytes of this input that were already stored (None when savings were not tracked)."""
        return None if self.new_bytes is None else self.size - self.new_bytes

    def to_bytes(self) -> bytes:
        """Serialize to the documented binary layout."""
        id_size = len(self.block_ids[0]) if self.block_ids else 0
        algorithm = self.hash_algorithm.encode("ascii")
        input_id = self.input_id.encode("utf-8")
        body = b"".join(
            (
                _HEADER.pack(
                    MAGIC,
                    VERSION,
                    id_size,
                    CHUNKING_CODES[self.chunking],
                    self.size,
                    self.block_size,
                    len(self.block_ids),
                ),
                struct.pack("<B", len(algorithm)),
                algorithm,
                struct.pack("<H", len(input_id)),
                input_id,
                *self.block_ids,
            )
        )
        return body + _CHECKSUM.pack(xxhash.xxh3_64_intdigest(body))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> DedupRecipe:
        """Parse ``to_bytes`` output; raises CorruptDataError when it is damaged."""
        raw = bytes(data)
        if len(raw) < _HEADER.size + _CHECKSUM.size or raw[:4] != MAGIC:
            raise CorruptDataError("not a dedup recipe (bad magic or too short)", location="recipe")
        body, (checksum,) = raw[: -_CHECKSUM.size], _CHECKSUM.unpack(raw[-_CHECKSUM.size :])
        if xxhash.xxh3_64_intdigest(body) != checksum:
            raise CorruptDataError("checksum mismatch", location="recipe")
        _, version, id_size, chunking_code, size, block_size, count = _HEADER.unpack_from(body)
        if version != VERSION or chunking_code not in CHUNKING_CODES.values():
            raise CorruptDataError(f"unsupported version {version} or chunking {chunking_code}", location="recipe")
        offset = _HEADER.size
        algorithm, offset = _read_prefixed(body, offset, "<B")
        input_id, offset = _read_prefixed(body, offset, "<H")
        if len(body) - offset != count * id_size or (count and not id_size):
            raise CorruptDataError(f"expected {count} block ids of {id_size} bytes", location="recipe")
        block_ids = tuple(body[start : start + id_size] for start in range(offset, len(body), id_size or 1))
        chunking = next(name for name, code in CHUNKING_CODES.items() if code == chunking_code)
        return cls(input_id.decode("utf-8"), size, algorithm.decode("ascii"), chunking, block_size, block_ids)


def _read_prefixed(body: bytes, offset: int, length_format: str) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(length_format, body, offset)
    offset += struct.calcsize(length_format)
    if offset + length > len(body):
        raise CorruptDataError("truncated field", location="recipe")
    return body[offset : offset + length], offset + length
