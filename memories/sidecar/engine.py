"""The engine parts one sidecar serves, built from its config.

Only what the config uses is constructed; heavy dependencies load lazily: the prefetch
model (onnxruntime) only when ``prefetch.modelPath`` is set, JPEG 2000 (imagecodecs) only
inside the compression part when an image is actually compressed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.registry import Collector

from memories.errors import ConfigError
from memories.optimization.cache.remote.settings import Coherence, RedisMode, RemoteSettings
from memories.sidecar.config import L3Config, SidecarConfig
from memories.sidecar.config.cache import L3_URL_ENV
from memories.sidecar.l2_slots import L2Slot, lease_slot

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager
    from memories.optimization.compression import MemoryCompressor
    from memories.optimization.dedup import Deduplicator
    from memories.optimization.monitor import PerformanceMonitor
    from memories.optimization.pools import MemoryPool

logger = logging.getLogger(__name__)

#: Streaming endpoints work on bytes; a lossy (image) profile falls back to this codec.
STREAM_FALLBACK_ALGORITHM = "lz4"


@dataclass
class PrefetchStatus:
    """What ``/v1/prefetch/status`` reports."""

    enabled: bool
    model_path: str | None
    loaded: bool = False
    error: str | None = None
    predictor: Any = field(default=None, repr=False)


@dataclass
class Engine:
    """The parts; ``dedup``, ``pool`` and ``l2_slot`` are None when the config leaves them out."""

    cache: CacheManager
    compressor: MemoryCompressor
    dedup: Deduplicator | None
    pool: MemoryPool | None
    monitor: PerformanceMonitor
    prefetch: PrefetchStatus
    #: The slot of a shared L2 directory this agent holds (``cache.l2Shared``), released when the agent stops.
    l2_slot: L2Slot | None = None


def build_compressor(config: SidecarConfig) -> MemoryCompressor:
    """The streaming compressor of the ``compression`` profile (lossless codecs only)."""
    from memories.optimization.compression import MemoryCompressor

    profile = config.compression
    if profile.algorithm == "jpeg2000":
        return MemoryCompressor(STREAM_FALLBACK_ALGORITHM, chunk_size=profile.chunk_size)
    return MemoryCompressor(profile.algorithm, level=profile.level, chunk_size=profile.chunk_size)


def remote_settings(l3: L3Config) -> RemoteSettings:
    """The engine's L3 settings from the agent's ``cache.l3`` section. Raises ConfigError (naming the field) when
    the URL is missing or malformed, or the settings do not fit together."""
    from memories.optimization.cache.remote.settings import TlsSettings

    if l3.url is None:
        raise ConfigError(f"cache.l3.url: required when cache.l3 is set (or the {L3_URL_ENV} environment variable)")
    tls = l3.tls
    fields: dict[str, Any] = {
        "mode": RedisMode(l3.mode),
        "master_name": l3.master_name,
        "prefix": l3.key_prefix,
        "coherence": Coherence(l3.coherence),
        "max_staleness_seconds": l3.max_staleness,
        "timeout_seconds": l3.timeout,
    }
    if l3.size is not None:
        fields["max_value_bytes"] = l3.size
    if tls is not None:
        fields["tls"] = TlsSettings(ca_pem=tls.ca, ca_file=tls.ca_file, server_name=tls.server_name)
    if l3.auth is not None and l3.auth.password is not None:
        fields["username"] = l3.auth.username
        fields["password"] = l3.auth.password
    try:
        return RemoteSettings.from_url(l3.url, field_name="cache.l3.url", **fields)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith("cache.l3") else f"cache.l3: {message}") from None


def build_engine(config: SidecarConfig) -> Engine:
    """Construct every configured part (nothing is started). Raises ConfigError for bad settings."""
    from memories.optimization.cache import CacheManager
    from memories.optimization.monitor import PerformanceMonitor

    cache_config = config.cache
    l2_slot = None
    if cache_config.l2_shared and cache_config.l2_size and cache_config.l2_path:
        l2_slot = lease_slot(Path(cache_config.l2_path))
    try:
        cache = CacheManager(
            l1_size=cache_config.l1_size,
            l2_size=cache_config.l2_size,
            eviction_policy=cache_config.eviction_policy,
            l2_path=l2_slot.directory if l2_slot else cache_config.l2_path,
            l3=None if cache_config.l3 is None else remote_settings(cache_config.l3),
            default_ttl=cache_config.default_ttl,
            max_value_size=cache_config.max_value_size,
        )
    except BaseException:
        if l2_slot is not None:
            l2_slot.release()
        raise
    dedup = None
    if config.dedup.enabled:
        from memories.optimization.dedup import Deduplicator

        dedup = Deduplicator(
            block_size=config.dedup.block_size,
            chunking=config.dedup.chunking,
            store_path=config.dedup.store_path,
        )
    pool = None
    if config.memory_pool is not None:
        from memories.optimization.pools import MemoryPool

        pool_config = config.memory_pool
        pool = MemoryPool(
            list(pool_config.block_sizes),
            pool_config.total_size,
            shm_name=pool_config.shm_name,
            path=pool_config.path,
        )
    monitor = PerformanceMonitor(cache=cache)
    prefetch = PrefetchStatus(enabled=config.prefetch.model_path is not None, model_path=config.prefetch.model_path)
    return Engine(cache, build_compressor(config), dedup, pool, monitor, prefetch, l2_slot)


def load_prefetch(engine: Engine, config: SidecarConfig) -> None:
    """Load the prediction model and start background prefetch when configured (call it in the event loop).

    A missing or malformed model is logged and reported in ``/v1/prefetch/status``, never raised:
    the cache keeps serving without prefetch.
    """
    if config.prefetch.model_path is None:
        return
    try:
        from memories.optimization.predictive import PredictiveCache

        engine.prefetch.predictor = PredictiveCache(
            model=config.prefetch.model,
            features=list(config.prefetch.features),
            cache_size=config.cache.l1_size,
            cache=engine.cache,
            model_path=config.prefetch.model_path,
        )
        engine.prefetch.loaded = True
        # Every read feeds the model's history; prefetching then runs in the background.
        engine.cache.access_observer = engine.prefetch.predictor.record_access
        engine.prefetch.predictor.start()
    except Exception as error:  # the sidecar still serves the cache without predictions
        logger.error("prefetch model %s not loaded: %s", config.prefetch.model_path, error)
        engine.prefetch.error = str(error)


def engine_collectors(engine: Engine) -> list[Collector]:
    """One Prometheus collector per present part (each part's ``metrics`` module)."""
    from memories.optimization.cache.metrics import CacheMetricsCollector
    from memories.optimization.compression.metrics import CompressionCollector
    from memories.optimization.monitor.metrics import MonitorCollector

    collectors: list[Collector] = [
        CacheMetricsCollector(engine.cache),
        CompressionCollector(engine.compressor),
        MonitorCollector(engine.monitor),
    ]
    if engine.dedup is not None:
        from memories.optimization.dedup.metrics import DedupCollector

        collectors.append(DedupCollector(engine.dedup.get_metrics))
    if engine.pool is not None:
        from memories.optimization.pools.metrics import MemoryPoolCollector

        collectors.append(MemoryPoolCollector(engine.pool))
    return collectors
