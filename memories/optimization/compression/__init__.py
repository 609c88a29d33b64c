"""Compression: lossless chunked LZ4/zstd containers and lossy JPEG 2000 images.

Public names: :class:`MemoryCompressor`, its lossless result :class:`CompressedData` (with
:class:`CompressionMetadata` and :class:`ChunkInfo`), its image result :class:`CompressedImages`,
and :class:`CompressionStats`. The container format is documented in docs/container-format.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memories.optimization.compression.compressor import MemoryCompressor
from memories.optimization.compression.container import ChunkInfo
from memories.optimization.compression.data import CompressedData, CompressionMetadata
from memories.optimization.compression.frames import decode_frame
from memories.optimization.compression.stats import CompressionStats

if TYPE_CHECKING:
    from memories.optimization.compression.images import CompressedImages

__all__ = [
    "ChunkInfo",
    "CompressedData",
    "CompressedImages",
    "CompressionMetadata",
    "CompressionStats",
    "MemoryCompressor",
    "decode_frame",
]


def __getattr__(name: str) -> Any:
    # The image result type lives with the JPEG 2000 codec, whose imagecodecs import is heavy:
    # load it only when someone asks for it (a sidecar without lossy settings never does).
    if name == "CompressedImages":
        from memories.optimization.compression.images import CompressedImages

        return CompressedImages
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
