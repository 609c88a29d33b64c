"""Host-wide figures from psutil (and /proc/pressure), used when no cgroup limit applies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from memories.optimization.monitor.cgroup import PressureStall, read_pressure_file

HOST_IO_PRESSURE = Path("/proc/pressure/io")


@dataclass(frozen=True, slots=True)
class HostMemory:
    """Host memory in bytes; ``used_bytes`` is total minus available (psutil's definition of pressure)."""

    total_bytes: int
    available_bytes: int

    @property
    def used_bytes(self) -> int:
        return self.total_bytes - self.available_bytes


@dataclass(frozen=True, slots=True)
class HostCpuTimes:
    """Cumulative CPU seconds summed over all CPUs."""

    busy_seconds: float
    iowait_seconds: float
    total_seconds: float


def read_host_memory() -> HostMemory:
    memory = psutil.virtual_memory()
    return HostMemory(total_bytes=int(memory.total), available_bytes=int(memory.available))


def read_host_cpu_times() -> HostCpuTimes:
    """CPU time counters; ``iowait_seconds`` is 0 where the platform does not report it."""
    times = psutil.cpu_times()
    total = float(sum(times))
    idle = float(times.idle)
    iowait = float(getattr(times, "iowait", 0.0))
    return HostCpuTimes(busy_seconds=total - idle - iowait, iowait_seconds=iowait, total_seconds=total)


def read_host_io_pressure(path: Path = HOST_IO_PRESSURE) -> PressureStall | None:
    """System-wide io PSI, or None when the kernel has no PSI."""
    return read_pressure_file(path)


def host_cpu_count() -> int:
    return psutil.cpu_count() or 1
