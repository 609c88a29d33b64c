"""Prometheus collector of the cache."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from memories.optimization.cache import CacheManager
from memories.optimization.cache.metrics import CacheMetricsCollector


async def test_collector_exports_per_tier_families() -> None:
    cache = CacheManager(l1_size="1MB")
    await cache.get("key", lambda: b"v")
    await cache.get("key")
    registry = CollectorRegistry()
    registry.register(CacheMetricsCollector(cache))
    assert registry.get_sample_value("memories_cache_hits_total", {"tier": "l1"}) == 1
    assert registry.get_sample_value("memories_cache_misses_total", {"tier": "l1"}) == 1
    assert registry.get_sample_value("memories_cache_capacity_bytes", {"tier": "l1"}) == 1024 * 1024
    assert registry.get_sample_value("memories_cache_entries", {"tier": "l1"}) == 1
    text = generate_latest(registry).decode()
    assert 'memories_cache_bytes{tier="l1"}' in text
    assert "memories_cache_evictions_total" in text
