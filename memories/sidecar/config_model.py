"""The sidecar's typed configuration: frozen dataclasses, one per config section.

Built only by :mod:`memories.sidecar.config` (which parses and validates the file); sizes
are bytes and durations seconds everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MEBIBYTE = 1024**2


@dataclass(frozen=True)
class L3Config:
    """Remote tier: ``url`` (e.g. ``redis://host:6379/0``) and ``size`` in bytes."""

    url: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class CacheConfig:
    """Cache tiers; sizes in bytes, ``default_ttl`` in seconds (None = no expiry)."""

    l1_size: int = 256 * MEBIBYTE
    l2_size: int | None = None
    l2_path: str | None = None
    l3: L3Config | None = None
    eviction_policy: str = "lru"
    default_ttl: float | None = None
    max_value_size: int | None = None


@dataclass(frozen=True)
class LossyConfig:
    """JPEG 2000 targets: ``quality`` in dB PSNR or ``target_size`` in bytes."""

    quality: int | None = None
    target_size: int | None = None


@dataclass(frozen=True)
class CompressionConfig:
    """Profile used by ``/v1/compress``; ``chunk_size`` in bytes bounds streaming memory."""

    algorithm: str = "lz4"
    level: int | None = None
    chunk_size: int = 1 * MEBIBYTE
    lossy: LossyConfig | None = None


@dataclass(frozen=True)
class DedupConfig:
    """Block store behind ``/v1/dedup``; ``block_size`` in bytes."""

    enabled: bool = False
    block_size: int = 4096
    chunking: str = "fixed"
    store_path: str | None = None


@dataclass(frozen=True)
class MemoryPoolConfig:
    """Shared-memory arena behind ``/v1/pool``; sizes in bytes."""

    block_sizes: tuple[int, ...]
    total_size: int
    shm_name: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class PrefetchConfig:
    """Predictive prefetch; absent ``model_path`` means prefetch is off (and onnxruntime never loads)."""

    model_path: str | None = None
    model: str = "lstm"
    features: tuple[str, ...] = ("time", "location", "type")


@dataclass(frozen=True)
class ListenConfig:
    """One listener: ``port`` None disables TCP; ``unix_socket`` is a filesystem path (RESP only)."""

    host: str
    port: int | None
    unix_socket: str | None = None


@dataclass(frozen=True)
class LimitsConfig:
    """Abuse limits: sizes in bytes, ``read_timeout`` in seconds."""

    max_value_size: int = 64 * MEBIBYTE
    max_request_size: int = 128 * MEBIBYTE
    max_key_length: int = 4096
    max_connections: int = 1024
    read_timeout: float = 30.0


@dataclass(frozen=True)
class ServerConfig:
    """Listeners (data APIs on loopback, ops on all interfaces by default), auth and limits."""

    resp: ListenConfig = field(default_factory=lambda: ListenConfig("127.0.0.1", 6380))
    http: ListenConfig = field(default_factory=lambda: ListenConfig("127.0.0.1", 8750))
    ops: ListenConfig = field(default_factory=lambda: ListenConfig("0.0.0.0", 9750))  # scraped from outside the pod
    auth_token_file: str | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)


@dataclass(frozen=True)
class ShutdownConfig:
    """``grace_period`` in seconds between SIGTERM and exit."""

    grace_period: float = 25.0


@dataclass(frozen=True)
class SidecarConfig:
    """The whole file. ``memory_pool`` None means no arena; ``prefetch.model_path`` None means no model."""

    cache: CacheConfig = field(default_factory=CacheConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    memory_pool: MemoryPoolConfig | None = None
    prefetch: PrefetchConfig = field(default_factory=PrefetchConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    shutdown: ShutdownConfig = field(default_factory=ShutdownConfig)
