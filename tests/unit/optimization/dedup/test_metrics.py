"""DedupMetrics and the Prometheus collector."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from memories.optimization import Deduplicator
from memories.optimization.dedup import DedupCollector


async def test_collector_exports_the_current_metrics_at_scrape_time() -> None:
    dedup = Deduplicator(256)
    registry = CollectorRegistry()
    registry.register(DedupCollector(dedup.get_metrics, name="images"))
    await dedup.process(b"a" * 1024)
    labels = {"deduplicator": "images"}
    assert registry.get_sample_value("memories_dedup_logical_bytes", labels) == 1024
    assert registry.get_sample_value("memories_dedup_physical_bytes", labels) == 256
    assert registry.get_sample_value("memories_dedup_ratio", labels) == 4.0
    assert registry.get_sample_value("memories_dedup_duplicate_bytes_total", labels) == 768
    assert b"memories_dedup_unique_blocks" in generate_latest(registry)
