"""cgroup v2 interface file readers, against fake cgroup directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from memories.optimization.monitor.cgroup import (
    cgroup_v2_relative_path,
    find_cgroup_directory,
    read_cpu_limit_cores,
    read_cpu_usage_seconds,
    read_io_pressure,
    read_memory,
)
from tests.unit.optimization.monitor.fake_cgroup import pressure, write_cgroup


def test_memory_with_a_limit_reports_working_set_without_inactive_file(tmp_path: Path) -> None:
    directory = write_cgroup(
        tmp_path,
        memory_current="800\n",
        memory_max="1000\n",
        memory_stat="anon 500\ninactive_file 300\nactive_file 0\n",
    )
    memory = read_memory(directory)
    assert memory is not None
    assert (memory.limit_bytes, memory.working_set_bytes) == (1000, 500)


def test_memory_max_of_max_means_no_limit(tmp_path: Path) -> None:
    directory = write_cgroup(tmp_path, memory_current="800\n", memory_max="max\n")
    memory = read_memory(directory)
    assert memory is not None
    assert memory.limit_bytes is None
    assert memory.working_set_bytes == 800


def test_memory_is_none_without_the_memory_controller(tmp_path: Path) -> None:
    assert read_memory(write_cgroup(tmp_path)) is None


@pytest.mark.parametrize(
    ("content", "cores"), [("50000 100000\n", 0.5), ("200000 100000\n", 2.0), ("max 100000\n", None)]
)
def test_cpu_max_is_read_as_cores(tmp_path: Path, content: str, cores: float | None) -> None:
    assert read_cpu_limit_cores(write_cgroup(tmp_path, cpu_max=content)) == cores


def test_cpu_usage_comes_from_cpu_stat_in_seconds(tmp_path: Path) -> None:
    directory = write_cgroup(tmp_path, cpu_stat="usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert read_cpu_usage_seconds(directory) == 2.5


def test_io_pressure_reads_the_some_line(tmp_path: Path) -> None:
    stall = read_io_pressure(write_cgroup(tmp_path, io_pressure=pressure(3_000_000, avg10=4.25)))
    assert stall is not None
    assert (stall.some_avg10_percent, stall.some_total_seconds) == (4.25, 3.0)


def test_io_pressure_is_none_without_psi(tmp_path: Path) -> None:
    assert read_io_pressure(write_cgroup(tmp_path)) is None


def test_malformed_io_pressure_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="some"):
        read_io_pressure(write_cgroup(tmp_path, io_pressure="full avg10=0 total=1\n"))


def test_relative_path_comes_from_the_unified_line() -> None:
    text = "12:memory:/old\n0::/kubepods/pod1/container\n"
    assert cgroup_v2_relative_path(text) == "/kubepods/pod1/container"
    assert cgroup_v2_relative_path("4:memory:/only-v1\n") is None


def test_cgroup_directory_is_found_under_the_mount(tmp_path: Path) -> None:
    own = write_cgroup(tmp_path / "mount" / "kubepods" / "pod1")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/kubepods/pod1\n")
    assert find_cgroup_directory(tmp_path / "mount", proc) == own


def test_cgroup_directory_is_found_under_unified_on_hybrid_hosts(tmp_path: Path) -> None:
    own = write_cgroup(tmp_path / "mount" / "unified" / "user.slice")
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/x\n0::/user.slice\n")
    assert find_cgroup_directory(tmp_path / "mount", proc) == own


def test_no_cgroup_directory_without_a_unified_hierarchy(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/x\n")
    assert find_cgroup_directory(tmp_path / "mount", proc) is None
