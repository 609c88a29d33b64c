"""On-disk layout of one L2 entry: where it lives and how its bytes are framed.

File name: the XXH3-128 hex digest of the UTF-8 key, under two fan-out directories
(``ab/cd/abcd….entry``), so a key never becomes a path. File contents::

    header  (40 bytes, little-endian)
      magic          4s   b"MCL2"
      version        B    1
      (padding)      x
      key_length     H    bytes of the UTF-8 key (keys up to 65,535 bytes)
      expires_at     d    absolute expiry, clock seconds; NaN = never
      payload_length Q    bytes of the packed value
      checksum       Q    XXH3-64 of the header's first 24 bytes + key + payload
      (reserved)     Q    0
    key      key_length bytes
    payload  payload_length bytes (codec.pack output: LZ4 frame or short raw)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import xxhash

from memories.errors import CorruptDataError
from memories.optimization.cache.tier import decode_expiry, encode_expiry

MAGIC = b"MCL2"
VERSION = 1
HEADER = struct.Struct("<4sBxHdQQQ")
_CHECKED_PREFIX = 24
SUFFIX = ".entry"
MAXIMUM_KEY_BYTES = 0xFFFF


@dataclass(frozen=True)
class EntryHeader:
    """The decoded header of an entry file; ``file_size`` is the size it implies, in bytes."""

    key: str
    expires_at: float | None
    payload_length: int
    checksum: int

    @property
    def file_size(self) -> int:
        return HEADER.size + len(key_bytes(self.key)) + self.payload_length


def key_bytes(key: str) -> bytes:
    """Return the UTF-8 bytes of a key (lone surrogates from bytes keys round-trip)."""
    return key.encode("utf-8", "surrogateescape")


def entry_path(root: Path, key: str) -> Path:
    """Return the file of ``key`` under ``root``: hashed, two fan-out levels."""
    digest = xxhash.xxh3_128_hexdigest(key_bytes(key))
    return root / digest[:2] / digest[2:4] / f"{digest}{SUFFIX}"


def encode_entry(key: str, payload: bytes, expires_at: float | None) -> bytes:
    """Return the full file contents for an entry; raises ValueError for keys over 65,535 bytes."""
    encoded_key = key_bytes(key)
    if len(encoded_key) > MAXIMUM_KEY_BYTES:
        raise ValueError(f"l2: keys are limited to {MAXIMUM_KEY_BYTES} bytes, got {len(encoded_key)}")
    prefix = HEADER.pack(MAGIC, VERSION, len(encoded_key), encode_expiry(expires_at), len(payload), 0, 0)
    checksum = _checksum(prefix[:_CHECKED_PREFIX], encoded_key, payload)
    header = HEADER.pack(MAGIC, VERSION, len(encoded_key), encode_expiry(expires_at), len(payload), checksum, 0)
    return header + encoded_key + payload


def decode_header(head: bytes, location: str) -> EntryHeader:
    """Decode the header and key at the start of a file; raises CorruptDataError if malformed."""
    if len(head) < HEADER.size:
        raise CorruptDataError("truncated header", location=location)
    magic, version, key_length, expires_at, payload_length, checksum, _reserved = HEADER.unpack_from(head)
    if magic != MAGIC or version != VERSION:
        raise CorruptDataError(f"not an L2 entry (magic {magic!r}, version {version})", location=location)
    encoded_key = head[HEADER.size : HEADER.size + key_length]
    if len(encoded_key) != key_length:
        raise CorruptDataError("truncated key", location=location)
    try:
        key = encoded_key.decode("utf-8", "surrogateescape")
    except UnicodeDecodeError:
        raise CorruptDataError("key is not UTF-8", location=location) from None
    return EntryHeader(key, decode_expiry(expires_at), payload_length, checksum)


def decode_entry(contents: bytes, location: str) -> tuple[EntryHeader, bytes]:
    """Verify a whole file and return its header and payload; raises CorruptDataError."""
    header = decode_header(contents, location)
    if len(contents) != header.file_size:
        raise CorruptDataError(f"size {len(contents)} bytes, header implies {header.file_size}", location=location)
    key_end = header.file_size - header.payload_length
    payload = contents[key_end:]
    if _checksum(contents[:_CHECKED_PREFIX], contents[HEADER.size : key_end], payload) != header.checksum:
        raise CorruptDataError("checksum mismatch", location=location)
    return header, payload


def _checksum(prefix: bytes, encoded_key: bytes, payload: bytes) -> int:
    hasher = xxhash.xxh3_64(prefix)
    hasher.update(encoded_key)
    hasher.update(payload)
    return hasher.intdigest()
