"""Prometheus collector for a PerformanceMonitor; exports its latest sample at scrape time.

Families (each labelled ``source="cgroup"|"host"``, absent when the group is not sampled):
``memories_memory_usage_ratio`` (working set / limit, 0-1), ``memories_memory_working_set_bytes``,
``memories_memory_limit_bytes``, ``memories_cpu_usage_ratio`` (of the quota or of all host CPUs, 0-1),
``memories_cpu_limit_cores`` (cgroup quota only), ``memories_io_wait_seconds_total`` (cumulative io
stall, see the sampler module), ``memories_io_pressure_ratio`` (PSI "some" avg10, 0-1), and
``memories_monitor_cache_hit_ratio`` (attached cache, 0-1).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memories.optimization.monitor.monitor import PerformanceMonitor


class MonitorCollector(Collector):
    """Yields the monitor's latest sample as metric families."""

    def __init__(self, monitor: PerformanceMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        metrics = self._monitor.stats()
        gauges = [
            ("memories_memory_usage_ratio", "Memory working set / limit", "memory", metrics.memory_usage_percent, 100),
            ("memories_memory_working_set_bytes", "Memory working set", "memory", metrics.memory_working_set_bytes, 1),
            ("memories_memory_limit_bytes", "Memory limit", "memory", metrics.memory_limit_bytes, 1),
            ("memories_cpu_usage_ratio", "CPU used / quota", "cpu", metrics.cpu_percent, 100),
            ("memories_cpu_limit_cores", "CPU quota in cores", "cpu", metrics.cpu_limit_cores, 1),
            ("memories_io_pressure_ratio", "IO PSI some avg10", "io", metrics.io_pressure_avg10_percent, 100),
        ]
        for name, documentation, group, value, divisor in gauges:
            if value is not None:
                gauge = GaugeMetricFamily(name, documentation, labels=["source"])
                gauge.add_metric([metrics.sources[group]], value / divisor)
                yield gauge
        if metrics.io_wait_seconds_total is not None:
            counter = CounterMetricFamily("memories_io_wait_seconds", "Cumulative io stall", labels=["source"])
            counter.add_metric([metrics.sources["io"]], metrics.io_wait_seconds_total)
            yield counter
        yield GaugeMetricFamily(
            "memories_monitor_cache_hit_ratio", "Hit rate of the attached cache", metrics.cache_hit_rate / 100
        )
