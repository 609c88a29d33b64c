"""Samples relative to cgroup limits, with host fallbacks, using a fake cgroup and a fake clock."""

from __future__ import annotations

from pathlib import Path

from memories.optimization.monitor.sampler import Sampler
from tests.unit.optimization.monitor.fake_cgroup import pressure, write_cgroup


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limited_cgroup(directory: Path) -> Path:
    return write_cgroup(
        directory,
        memory_current="600\n",
        memory_max="1000\n",
        memory_stat="inactive_file 100\n",
        cpu_max="50000 100000\n",
        cpu_stat="usage_usec 1000000\n",
        io_pressure=pressure(2_000_000),
    )


def test_memory_percent_is_working_set_over_the_cgroup_limit(tmp_path: Path) -> None:
    metrics = Sampler(["memory"], limited_cgroup(tmp_path)).sample()
    assert metrics.memory_usage_percent == 50.0
    assert (metrics.memory_working_set_bytes, metrics.memory_limit_bytes) == (500, 1000)
    assert metrics.source == "cgroup"


def test_memory_falls_back_to_the_host_without_a_limit(tmp_path: Path) -> None:
    directory = write_cgroup(tmp_path, memory_current="600\n", memory_max="max\n")
    metrics = Sampler(["memory"], directory).sample()
    assert metrics.source == "host"
    assert metrics.memory_limit_bytes is not None and metrics.memory_limit_bytes > 1000
    assert metrics.memory_usage_percent is not None and 0 < metrics.memory_usage_percent < 100


def test_cpu_percent_is_relative_to_the_quota(tmp_path: Path) -> None:
    directory = limited_cgroup(tmp_path)
    clock = FakeClock()
    sampler = Sampler(["cpu"], directory, clock=clock)
    clock.now += 2.0
    (directory / "cpu.stat").write_text("usage_usec 1500000\n")
    metrics = sampler.sample()
    assert metrics.cpu_percent == 50.0  # 0.5 s of CPU in 2 s on a 0.5-core quota
    assert metrics.cpu_limit_cores == 0.5
    assert metrics.sources["cpu"] == "cgroup"


def test_cpu_falls_back_to_host_figures_without_a_quota(tmp_path: Path) -> None:
    directory = write_cgroup(tmp_path, cpu_max="max 100000\n", cpu_stat="usage_usec 5\n")
    metrics = Sampler(["cpu"], directory).sample()
    assert metrics.sources["cpu"] == "host"
    assert metrics.cpu_limit_cores is None
    assert metrics.cpu_percent is not None and 0 <= metrics.cpu_percent <= 100


def test_io_wait_is_stall_milliseconds_per_second_from_psi_totals(tmp_path: Path) -> None:
    directory = limited_cgroup(tmp_path)
    clock = FakeClock()
    sampler = Sampler(["io"], directory, clock=clock)
    clock.now += 4.0
    (directory / "io.pressure").write_text(pressure(3_000_000, avg10=2.5))
    metrics = sampler.sample()
    assert metrics.io_wait_ms == 250.0  # 1 s of stall over 4 s
    assert metrics.io_wait_seconds_total == 3.0
    assert metrics.io_pressure_avg10_percent == 2.5
    assert metrics.sources["io"] == "cgroup"


def test_io_falls_back_to_host_iowait_without_any_psi(tmp_path: Path) -> None:
    sampler = Sampler(["io"], write_cgroup(tmp_path / "cgroup"), host_io_pressure=tmp_path / "absent")
    metrics = sampler.sample()
    assert metrics.sources["io"] == "host"
    assert metrics.io_pressure_avg10_percent is None
    assert metrics.io_wait_ms is not None and metrics.io_wait_ms >= 0


def test_groups_not_selected_are_not_sampled(tmp_path: Path) -> None:
    metrics = Sampler(["memory"], limited_cgroup(tmp_path)).sample()
    assert metrics.cpu_percent is None
    assert metrics.io_wait_ms is None
    assert set(metrics.sources) == {"memory"}


def test_cache_hit_rate_is_passed_through_in_percent(tmp_path: Path) -> None:
    assert Sampler([], None).sample(cache_hit_rate_percent=75.0).cache_hit_rate == 75.0
