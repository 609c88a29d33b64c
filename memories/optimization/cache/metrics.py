"""Prometheus export of a CacheManager's statistics, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memories.optimization.cache.manager import CacheManager


class CacheMetricsCollector(Collector):
    """Yields ``memories_cache_*`` families labelled by tier; register with a CollectorRegistry.

    Counters: ``memories_cache_hits_total``, ``_misses_total``, ``_evictions_total``,
    ``_errors_total``. Gauges: ``memories_cache_bytes``, ``memories_cache_capacity_bytes``,
    ``memories_cache_entries``.
    """

    def __init__(self, cache: CacheManager) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        tiers = self._cache.stats().tiers.values()
        families: list[tuple[CounterMetricFamily | GaugeMetricFamily, str]] = [
            (CounterMetricFamily("memories_cache_hits", "Lookups served by the tier.", labels=["tier"]), "hits"),
            (
                CounterMetricFamily("memories_cache_misses", "Lookups the tier could not serve.", labels=["tier"]),
                "misses",
            ),
            (
                CounterMetricFamily(
                    "memories_cache_evictions", "Entries evicted to respect the budget.", labels=["tier"]
                ),
                "evictions",
            ),
            (
                CounterMetricFamily("memories_cache_errors", "Failed operations treated as misses.", labels=["tier"]),
                "errors",
            ),
            (GaugeMetricFamily("memories_cache_bytes", "Bytes accounted in the tier.", labels=["tier"]), "bytes_used"),
            (
                GaugeMetricFamily("memories_cache_capacity_bytes", "Byte budget of the tier.", labels=["tier"]),
                "capacity_bytes",
            ),
            (GaugeMetricFamily("memories_cache_entries", "Entries resident in the tier.", labels=["tier"]), "entries"),
        ]
        for family, attribute in families:
            for tier in tiers:
                family.add_metric([tier.name], float(getattr(tier, attribute)))
            yield family
