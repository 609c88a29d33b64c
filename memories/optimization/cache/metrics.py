"""Prometheus export of a CacheManager's statistics, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memories.optimization.cache.manager import CacheManager
from memories.optimization.cache.stats import RemoteStatus


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
        remote = self._cache.remote_status()
        if remote is not None:
            yield from _remote_families(remote)


_REMOTE_COUNTERS = (
    (
        "memories_cache_l3_invalidation_messages",
        "Invalidation push messages received from Redis.",
        "invalidation_messages",
    ),
    ("memories_cache_l3_invalidated_keys", "Keys named by the invalidations received.", "invalidated_keys"),
    (
        "memories_cache_l3_invalidations_applied",
        "Invalidated keys of which this agent held a local copy (L1 or L2), now dropped.",
        "invalidations_applied",
    ),
    (
        "memories_cache_l3_flushes",
        "Times every local copy was dropped: a Redis connection lost, or no confirmation within maxStaleness.",
        "flushes",
    ),
    ("memories_cache_l3_redirections", "Commands sent again after MOVED, ASK or a retry-later answer.", "redirections"),
    ("memories_cache_l3_connections_opened", "Connections opened to Redis nodes.", "connections_opened"),
    ("memories_cache_l3_connections_lost", "Connections to Redis nodes that were lost.", "connections_lost"),
)


def _remote_families(remote: RemoteStatus) -> Iterator[Metric]:
    for name, documentation, attribute in _REMOTE_COUNTERS:
        counter = CounterMetricFamily(name, documentation)
        counter.add_metric([], float(getattr(remote, attribute)))
        yield counter
    recovered = CounterMetricFamily(
        "memories_cache_l3_recovered_l2_entries",
        "L2 entries recovered at start and compared with Redis when first read: kept (unchanged) or dropped.",
        labels=["result"],
    )
    recovered.add_metric(["kept"], float(remote.recovered_kept))
    recovered.add_metric(["dropped"], float(remote.recovered_dropped))
    yield recovered
    info = GaugeMetricFamily(
        "memories_cache_l3_info", "L3's deployment and coherence mode (always 1).", labels=["mode", "coherence"]
    )
    info.add_metric([remote.mode, remote.coherence], 1.0)
    yield info
    nodes = GaugeMetricFamily("memories_cache_l3_nodes", "Redis nodes that own keys.", labels=["state"])
    nodes.add_metric(["known"], float(len(remote.nodes)))
    nodes.add_metric(["connected"], float(remote.connected_nodes))
    yield nodes
    trusted = GaugeMetricFamily(
        "memories_cache_l3_local_copies_trusted", "1 while local copies of L3 keys may be served, else 0."
    )
    trusted.add_metric([], float(remote.trusted))
    yield trusted
