"""Prometheus collectors for pools; they read ``stats()`` at scrape time.

Register one per pool: ``registry.register(MemoryPoolCollector(pool, name="frames"))``.
Every family carries a ``pool`` label with that name.

Memory pool, per ``size_class`` (bytes): ``memories_pool_blocks``, ``memories_pool_blocks_in_use``,
``memories_pool_high_water_blocks``, ``memories_pool_internal_fragmentation_bytes``,
``memories_pool_allocations_total``, ``memories_pool_releases_total``, ``memories_pool_exhausted_total``;
whole pool: ``memories_pool_capacity_bytes``, ``memories_pool_in_use_bytes``,
``memories_pool_requested_bytes``, ``memories_pool_high_water_bytes``, ``memories_pool_utilization_ratio``.

Object pool: ``memories_object_pool_objects{state="idle"|"in_use"|"creating"}``,
``memories_object_pool_size``, ``_max_size``, ``_waiters``, and counters ``_created_total``,
``_destroyed_total``, ``_acquisitions_total``, ``_timeouts_total``, ``_validation_failures_total``,
``_wait_seconds_total``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memories.optimization.pools.memory_pool import MemoryPool
from memories.optimization.pools.object_pool import ObjectPool


class MemoryPoolCollector(Collector):
    """Exports a :class:`MemoryPool`'s usage, per size class and in total."""

    def __init__(self, pool: MemoryPool, name: str = "default") -> None:
        self._pool = pool
        self._name = name

    def collect(self) -> Iterator[Metric]:
        stats = self._pool.stats()
        labels = ["pool", "size_class"]
        per_class: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "blocks": GaugeMetricFamily("memories_pool_blocks", "Blocks in the size class", labels=labels),
            "in_use": GaugeMetricFamily("memories_pool_blocks_in_use", "Blocks lent out", labels=labels),
            "high_water": GaugeMetricFamily(
                "memories_pool_high_water_blocks", "Most blocks lent out at once", labels=labels
            ),
            "fragmentation": GaugeMetricFamily(
                "memories_pool_internal_fragmentation_bytes",
                "Capacity of lent blocks minus the bytes requested",
                labels=labels,
            ),
            "allocations": CounterMetricFamily("memories_pool_allocations", "Blocks allocated", labels=labels),
            "releases": CounterMetricFamily("memories_pool_releases", "Blocks released", labels=labels),
            "exhausted": CounterMetricFamily(
                "memories_pool_exhausted", "Allocations that found the class full", labels=labels
            ),
        }
        for size_class in stats.classes:
            label_values = [self._name, str(size_class.size_class)]
            per_class["blocks"].add_metric(label_values, size_class.total_blocks)
            per_class["in_use"].add_metric(label_values, size_class.blocks_in_use)
            per_class["high_water"].add_metric(label_values, size_class.high_water_blocks)
            per_class["fragmentation"].add_metric(label_values, size_class.internal_fragmentation_bytes)
            per_class["allocations"].add_metric(label_values, size_class.allocations)
            per_class["releases"].add_metric(label_values, size_class.releases)
            per_class["exhausted"].add_metric(label_values, size_class.exhausted)
        yield from per_class.values()
        totals = {
            "memories_pool_capacity_bytes": ("Bytes blocks can occupy", stats.capacity_bytes),
            "memories_pool_in_use_bytes": ("Capacity of the blocks lent out", stats.bytes_in_use),
            "memories_pool_requested_bytes": ("Bytes requested by live allocations", stats.requested_bytes),
            "memories_pool_high_water_bytes": ("Most bytes lent out at once", stats.high_water_bytes),
            "memories_pool_utilization_ratio": ("Bytes in use / capacity", stats.utilization),
        }
        yield from _families(GaugeMetricFamily, totals, self._name)


class ObjectPoolCollector(Collector):
    """Exports an :class:`ObjectPool`'s sizes, waiters and lifetime counters."""

    def __init__(self, pool: ObjectPool[Any], name: str = "default") -> None:
        self._pool = pool
        self._name = name

    def collect(self) -> Iterator[Metric]:
        stats = self._pool.stats()
        objects = GaugeMetricFamily("memories_object_pool_objects", "Pooled objects by state", labels=["pool", "state"])
        objects.add_metric([self._name, "idle"], stats.idle)
        objects.add_metric([self._name, "in_use"], stats.in_use)
        objects.add_metric([self._name, "creating"], stats.size - stats.idle - stats.in_use)
        yield objects
        yield from _families(
            GaugeMetricFamily,
            {
                "memories_object_pool_size": ("Objects alive or being created", stats.size),
                "memories_object_pool_max_size": ("Most objects allowed", stats.max_size),
                "memories_object_pool_waiters": ("Tasks waiting for an object", stats.waiters),
            },
            self._name,
        )
        counters = {
            "memories_object_pool_created": ("Objects created", stats.created),
            "memories_object_pool_destroyed": ("Objects destroyed", stats.destroyed),
            "memories_object_pool_acquisitions": ("Objects lent out", stats.acquisitions),
            "memories_object_pool_timeouts": ("Acquires that timed out", stats.timeouts),
            "memories_object_pool_validation_failures": ("Objects rejected on acquire", stats.validation_failures),
            "memories_object_pool_wait_seconds": ("Time spent waiting for a busy pool", stats.wait_seconds_total),
        }
        yield from _families(CounterMetricFamily, counters, self._name)


def _families(
    family: type[GaugeMetricFamily | CounterMetricFamily], values: dict[str, tuple[str, float]], pool_name: str
) -> Iterator[Metric]:
    """One family per entry of ``values`` (name → (help text, value)), labelled with the pool name."""
    for name, (documentation, value) in values.items():
        metric = family(name, documentation, labels=["pool"])
        metric.add_metric([pool_name], value)
        yield metric
