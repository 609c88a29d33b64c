"""The ``compression`` and ``dedup`` sections; the CompressionProfile CRD is made of the same settings."""

from __future__ import annotations

from memories.optimization.compression.config import ALGORITHMS
from memories.optimization.dedup.recipe import CHUNKING_METHODS
from memories.settings import Rule, section, setting
from memories.settings.kinds import Boolean, Choice, Integer, Size, Text


@section(
    rules=(
        Rule(
            "lossy needs quality (0-100) or targetSize",
            cel="has(self.quality) || has(self.targetSize)",
            check=lambda lossy: lossy.quality is not None or lossy.target_size is not None,
        ),
    )
)
class LossyConfig:
    """Lossy JPEG 2000 targets."""

    quality: int | None = setting(
        Integer(minimum=0, maximum=100, format="int32"),
        doc="Visual quality from 0 (smallest) to 100 (near lossless).",
        default=None,
    )
    target_size: int | None = setting(
        Size(positive=True),
        doc="Target size of each encoded image, in bytes or with a unit (e.g. 512Ki).",
        default=None,
    )


@section
class CompressionConfig:
    """The codec profile (in the agent: of ``/v1/compress``; a jpeg2000 profile streams with lz4)."""

    algorithm: str = setting(
        Choice(ALGORITHMS),
        doc="Codec: lz4 (fastest, the default), zstd (better ratio), or jpeg2000 (images and rasters, lossless "
        "unless lossy is set).",
        default="lz4",
    )
    level: int | None = setting(
        Integer(format="int32"),
        doc="Codec level; omit for the codec's default. lz4 0-16 (3 and above is HC), zstd 1-22 (negative values "
        "are the fast modes). Not used by jpeg2000.",
        default=None,
    )
    chunk_size: int = setting(
        Size(positive=True),
        doc="Values are compressed in independent chunks of this size, in bytes or with a unit (Ki, Mi, Gi, or "
        "1024-based KB, MB, GB), so large values stream with bounded memory (about workers × chunkSize).",
        default="1Mi",
    )
    lossy: LossyConfig | None = setting(
        doc="Lossy JPEG 2000 encoding (requires algorithm jpeg2000). Set quality, targetSize, or both (targetSize "
        "wins when both are given).",
        default=None,
    )


@section
class DedupSettings:
    """Block deduplication as a CompressionProfile sets it."""

    enabled: bool = setting(Boolean(), doc="Turn deduplication on.", default=False)
    block_size: int = setting(
        Size(positive=True),
        doc="Block size in bytes or with a unit: the fixed block size, or the average block size with chunking cdc.",
        default="4Ki",
    )
    chunking: str = setting(
        Choice(tuple(CHUNKING_METHODS)),
        doc="fixed cuts blocks at fixed offsets (fastest); cdc uses content-defined boundaries, so an insertion "
        "shifts only nearby blocks.",
        default="fixed",
    )


@section
class DedupConfig(DedupSettings):
    """The agent's block store behind ``/v1/dedup``."""

    store_path: str | None = setting(
        Text(min_length=1), doc="Directory of the block store; absent = in memory.", default=None
    )
