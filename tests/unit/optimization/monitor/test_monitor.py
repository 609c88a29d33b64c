"""PerformanceMonitor: settings, the sampling thread, and the attached cache's hit rate."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from memories.errors import ConfigError
from memories.optimization.monitor import PerformanceMetrics, PerformanceMonitor
from tests.unit.optimization.monitor.fake_cgroup import write_cgroup


@dataclass
class FakeCacheStats:
    hit_rate: float


class FakeCache:
    def __init__(self, hit_rate: float) -> None:
        self.hit_rate = hit_rate

    def stats(self) -> FakeCacheStats:
        return FakeCacheStats(self.hit_rate)


class BrokenCache:
    def stats(self) -> FakeCacheStats:
        raise RuntimeError("cache is closed")


def monitor_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "memories-performance-monitor"]


@pytest.fixture
def cgroup(tmp_path: Path) -> Path:
    return write_cgroup(tmp_path, memory_current="250\n", memory_max="1000\n")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"metrics": ["memory", "disk"]}, "metrics"),
        ({"metrics": "memory"}, "metrics"),
        ({"sampling_interval": 0}, "sampling_interval"),
        ({"sampling_interval": "often"}, "sampling_interval"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        PerformanceMonitor(**arguments)  # type: ignore[arg-type]


def test_get_metrics_samples_on_the_spot_before_the_first_tick(cgroup: Path) -> None:
    monitor = PerformanceMonitor(sampling_interval="1h", cgroup_directory=cgroup)
    metrics = monitor.get_metrics()
    assert isinstance(metrics, PerformanceMetrics)
    assert metrics.memory_usage_percent == 25.0


def test_background_thread_keeps_taking_samples(cgroup: Path) -> None:
    monitor = PerformanceMonitor(sampling_interval=0.02, metrics=["memory"], cgroup_directory=cgroup)
    monitor.start()
    try:
        first = monitor.get_metrics()
        (cgroup / "memory.current").write_text("500\n")
        deadline = time.monotonic() + 5
        while monitor.get_metrics().memory_usage_percent != 50.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert monitor.get_metrics().memory_usage_percent == 50.0
        assert monitor.get_metrics().timestamp > first.timestamp
    finally:
        monitor.stop()


def test_stop_leaves_no_thread_behind(cgroup: Path) -> None:
    before = len(monitor_threads())
    monitor = PerformanceMonitor(sampling_interval=0.01, cgroup_directory=cgroup)
    monitor.start()
    monitor.start()
    assert len(monitor_threads()) == before + 1
    monitor.stop()
    monitor.stop()
    assert len(monitor_threads()) == before
    assert not monitor.running


def test_monitor_can_restart_after_stop(cgroup: Path) -> None:
    with PerformanceMonitor(sampling_interval=0.01, cgroup_directory=cgroup) as monitor:
        assert monitor.running
    monitor.start()
    assert monitor.running
    monitor.stop()


def test_cache_hit_rate_is_reported_in_percent(cgroup: Path) -> None:
    monitor = PerformanceMonitor(metrics=["memory"], cache=FakeCache(0.25), cgroup_directory=cgroup)
    assert monitor.sample().cache_hit_rate == 25.0
    monitor.attach_cache(FakeCache(0.5))
    assert monitor.sample().cache_hit_rate == 50.0


def test_cache_hit_rate_is_zero_without_a_cache(cgroup: Path) -> None:
    assert PerformanceMonitor(metrics=["memory"], cgroup_directory=cgroup).sample().cache_hit_rate == 0.0


def test_failing_cache_stats_do_not_break_sampling(cgroup: Path, caplog: pytest.LogCaptureFixture) -> None:
    monitor = PerformanceMonitor(metrics=["memory"], cache=BrokenCache(), cgroup_directory=cgroup)
    assert monitor.sample().cache_hit_rate == 0.0
    assert "hit rate" in caplog.text
