"""The whole config file of ``memories sidecar --config FILE``: one section per part of the agent."""

from __future__ import annotations

from memories.settings import section, setting
from memories.settings.kinds import Duration, ListOf, Text
from memories.sidecar.config.cache import CacheConfig
from memories.sidecar.config.compression import CompressionConfig, DedupConfig
from memories.sidecar.config.pool import MemoryPoolConfig
from memories.sidecar.config.server import ServerConfig


@section
class PrefetchConfig:
    """Predictive prefetch; it is on when ``modelPath`` is set (onnxruntime never loads otherwise)."""

    model_path: str | None = setting(Text(min_length=1), doc="ONNX model file; absent = prefetch off.", default=None)
    model: str = setting(Text(min_length=1), doc="Kind of model in the file.", default="lstm")
    features: tuple[str, ...] = setting(
        ListOf(Text(min_length=1), item_doc="One input feature.", min_items=1),
        doc="Input features of the model.",
        default=["time", "location", "type"],
    )


@section
class ShutdownConfig:
    """What happens on SIGTERM."""

    grace_period: float = setting(
        Duration(),
        doc="SIGTERM to exit; keep it below the pod's terminationGracePeriodSeconds.",
        default="25s",
    )


@section(doc="Config file of `memories sidecar --config FILE`; see docs/sidecar-config.md. Every field is optional.")
class SidecarConfig:
    """The whole file; sizes are bytes and durations seconds once parsed."""

    cache: CacheConfig = setting(doc="Cache tiers.", default={})
    compression: CompressionConfig = setting(doc="Profile of /v1/compress and /v1/decompress.", default={})
    dedup: DedupConfig = setting(doc="Block store of /v1/dedup; disabled by default.", default={})
    memory_pool: MemoryPoolConfig | None = setting(doc="Arena of /v1/pool; absent = no arena.", default=None)
    prefetch: PrefetchConfig = setting(doc="Predictive prefetch.", default={})
    server: ServerConfig = setting(doc="Listeners, auth and limits.", default={})
    shutdown: ShutdownConfig = setting(doc="Graceful shutdown.", default={})
