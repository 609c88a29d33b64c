"""CompressedData: a compressed container in memory, with its metadata and chunk table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from memories.optimization.compression.container import (
    ChunkInfo,
    ContainerHeader,
    encode_chunk_record,
    encode_header,
    encode_trailer,
)
from memories.optimization.compression.frames import Buffer
from memories.optimization.compression.inputs import array_layout
from memories.optimization.compression.parser import parse_container


@dataclass(frozen=True)
class CompressionMetadata:
    """What a container records about the data (sizes in bytes).

    ``chunks`` is the chunk table (offsets, sizes, XXH3-64 checksums). ``dtype`` and ``shape``
    are set for numpy arrays compressed with ``metadata=True``; ``user`` holds the mapping
    passed as ``metadata=`` (empty otherwise).
    """

    algorithm: str
    level: int
    chunk_size: int
    original_size: int
    chunks: tuple[ChunkInfo, ...]
    dtype: numpy.dtype[Any] | None
    shape: tuple[int, ...] | None
    user: dict[str, Any]


class CompressedData:
    """Losslessly compressed data: standard LZ4/zstd frames plus the records of the container format.

    Serialize with :meth:`to_bytes`, read back with :meth:`from_bytes`; the format is
    described in docs/container-format.md and the ``lz4``/``zstd`` CLIs decode it as is.
    """

    def __init__(self, header: ContainerHeader, chunks: Sequence[ChunkInfo], frames: Sequence[Buffer]) -> None:
        if len(chunks) != len(frames):
            raise ValueError("one frame per chunk is required")
        self.header = header
        self.frames = tuple(frames)
        layout = array_layout(header.info)
        self.metadata = CompressionMetadata(
            algorithm=header.algorithm,
            level=header.level,
            chunk_size=header.chunk_size,
            original_size=sum(chunk.original_size for chunk in chunks),
            chunks=tuple(chunks),
            dtype=layout[0] if layout else None,
            shape=layout[1] if layout else None,
            user=dict(header.info.get("user", {})),
        )

    @property
    def original_size(self) -> int:
        """Size of the original data in bytes."""
        return self.metadata.original_size

    @property
    def compressed_size(self) -> int:
        """Size of :meth:`to_bytes` in bytes (frames plus all container records)."""
        return sum(len(part) for part in self._parts())

    @property
    def ratio(self) -> float:
        """original_size / compressed_size (above 1 means the data shrank)."""
        return self.original_size / self.compressed_size

    def _parts(self) -> Iterator[Buffer]:
        yield encode_header(self.header)
        for chunk, frame in zip(self.metadata.chunks, self.frames, strict=True):
            yield encode_chunk_record(chunk)
            yield frame
        yield encode_trailer(self.metadata.chunks)

    def to_bytes(self) -> bytes:
        """Return the whole container."""
        return b"".join(self._parts())

    @classmethod
    def from_bytes(cls, data: Buffer) -> CompressedData:
        """Read a container produced by :meth:`to_bytes` or by a compressor's stream.

        The structure (records, sizes, table) is checked here; each frame is checked against
        its checksums when decompressed. Raises CorruptDataError naming the failing part.
        """
        immutable = data if isinstance(data, bytes) else bytes(data)
        parsed = parse_container(immutable)
        return cls(parsed.header, [chunk.info for chunk in parsed.chunks], [chunk.frame for chunk in parsed.chunks])

    def __repr__(self) -> str:
        meta = self.metadata
        return (
            f"CompressedData(algorithm={meta.algorithm!r}, level={meta.level}, original_size={meta.original_size}, "
            f"compressed_size={self.compressed_size}, chunks={len(meta.chunks)})"
        )
