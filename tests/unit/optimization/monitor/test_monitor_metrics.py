"""Prometheus exposition of PerformanceMonitor samples."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from memories.optimization.monitor import PerformanceMonitor
from memories.optimization.monitor.metrics import MonitorCollector
from tests.unit.optimization.monitor.fake_cgroup import pressure, write_cgroup


def scrape(monitor: PerformanceMonitor) -> str:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor))
    return generate_latest(registry).decode()


def test_exposition_uses_conventional_names_and_units(tmp_path: Path) -> None:
    directory = write_cgroup(
        tmp_path,
        memory_current="300\n",
        memory_max="1200\n",
        cpu_max="100000 100000\n",
        cpu_stat="usage_usec 10\n",
        io_pressure=pressure(7_500_000, avg10=3.0),
    )
    text = scrape(PerformanceMonitor(cgroup_directory=directory))
    assert 'memories_memory_usage_ratio{source="cgroup"} 0.25' in text
    assert 'memories_memory_working_set_bytes{source="cgroup"} 300.0' in text
    assert 'memories_memory_limit_bytes{source="cgroup"} 1200.0' in text
    assert 'memories_cpu_limit_cores{source="cgroup"} 1.0' in text
    assert 'memories_cpu_usage_ratio{source="cgroup"}' in text
    assert 'memories_io_wait_seconds_total{source="cgroup"} 7.5' in text
    assert 'memories_io_pressure_ratio{source="cgroup"} 0.03' in text
    assert "memories_monitor_cache_hit_ratio 0.0" in text


def test_groups_not_sampled_are_not_exported(tmp_path: Path) -> None:
    directory = write_cgroup(tmp_path, memory_current="300\n", memory_max="1200\n")
    text = scrape(PerformanceMonitor(metrics=["memory"], cgroup_directory=directory))
    assert "memories_memory_usage_ratio" in text
    assert "memories_cpu_usage_ratio" not in text
    assert "memories_io_wait_seconds_total" not in text
