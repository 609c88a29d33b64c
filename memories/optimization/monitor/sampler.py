"""One sample of memory, cpu and io figures, relative to the cgroup's limits when there are any.

Sources, per group:

* memory: the cgroup's working set (``memory.current`` − ``inactive_file``) over ``memory.max``
  when a limit is set; otherwise the host's used memory (total − available) over its total.
* cpu: cgroup CPU time (``cpu.stat`` usage_usec) over wall time × the ``cpu.max`` quota (cores)
  when a quota is set; otherwise host busy CPU time over all CPU time (all cores).
* io: ``io_wait_ms`` is milliseconds of io stall per second of wall time, averaged since the
  previous sample (0 to 1000). From the cgroup's PSI ``io.pressure`` "some" total when present,
  else the host's ``/proc/pressure/io``, else the host's iowait CPU time divided by the number
  of CPUs. ``io_wait_seconds_total`` is that same cumulative stall counter, in seconds.

Rates (cpu, io) are deltas against the previous sample; the first one covers the time since the
sampler was created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from memories.optimization.monitor.cgroup import (
    read_cpu_limit_cores,
    read_cpu_usage_seconds,
    read_io_pressure,
    read_memory,
)
from memories.optimization.monitor.host import (
    HOST_IO_PRESSURE,
    HostCpuTimes,
    host_cpu_count,
    read_host_cpu_times,
    read_host_io_pressure,
    read_host_memory,
)

METRIC_GROUPS = ("memory", "cpu", "io")


@dataclass(frozen=True, slots=True)
class PerformanceMetrics:
    """One sample. Fields of groups that were not sampled are None.

    Units: percent 0-100, bytes, cores, milliseconds per second, seconds; ``timestamp`` is Unix time.
    """

    timestamp: float
    source: str
    """"cgroup" or "host": where the first sampled group (memory, else cpu, else io) came from."""
    memory_usage_percent: float | None = None
    memory_working_set_bytes: int | None = None
    memory_limit_bytes: int | None = None
    cpu_percent: float | None = None
    """Of the cgroup's CPU quota, or of all host CPUs when there is no quota."""
    cpu_limit_cores: float | None = None
    io_wait_ms: float | None = None
    """Milliseconds of io stall per second of wall time since the previous sample (0-1000)."""
    io_wait_seconds_total: float | None = None
    io_pressure_avg10_percent: float | None = None
    cache_hit_rate: float = 0.0
    """Percent of cache gets that hit, from the attached CacheManager (0 when none)."""
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Counters:
    at: float
    cgroup_cpu_seconds: float | None
    host_cpu: HostCpuTimes | None
    io_source: str
    io_stall_seconds: float | None
    io_avg10_percent: float | None


class Sampler:
    """Takes samples of the selected ``groups``; keeps the previous counters for rates. Not thread-safe.

    ``clock`` gives monotonic seconds (injectable for tests); ``host_io_pressure`` is the host PSI file.
    """

    def __init__(
        self,
        groups: Collection[str],
        cgroup_directory: Path | None,
        host_io_pressure: Path = HOST_IO_PRESSURE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._groups = frozenset(groups)
        self._clock = clock
        self._directory = cgroup_directory
        self._host_io_pressure = host_io_pressure
        self._previous = self._read_counters()

    def sample(self, cache_hit_rate_percent: float = 0.0) -> PerformanceMetrics:
        current = self._read_counters()
        previous, self._previous = self._previous, current
        metrics = PerformanceMetrics(timestamp=time.time(), source="host", cache_hit_rate=cache_hit_rate_percent)
        if "memory" in self._groups:
            metrics = self._with_memory(metrics)
        if "cpu" in self._groups:
            metrics = self._with_cpu(metrics, previous, current)
        if "io" in self._groups:
            metrics = _with_io(metrics, previous, current)
        return replace(metrics, source=next(iter(metrics.sources.values()), "host"))

    def _with_memory(self, metrics: PerformanceMetrics) -> PerformanceMetrics:
        cgroup = read_memory(self._directory) if self._directory is not None else None
        if cgroup is not None and cgroup.limit_bytes:
            working_set, limit, source = cgroup.working_set_bytes, cgroup.limit_bytes, "cgroup"
        else:
            host = read_host_memory()
            working_set, limit, source = host.used_bytes, host.total_bytes, "host"
        return replace(
            metrics,
            memory_working_set_bytes=working_set,
            memory_limit_bytes=limit,
            memory_usage_percent=working_set * 100 / limit,
            sources={**metrics.sources, "memory": source},
        )

    def _with_cpu(self, metrics: PerformanceMetrics, previous: _Counters, current: _Counters) -> PerformanceMetrics:
        quota = read_cpu_limit_cores(self._directory) if self._directory is not None else None
        used = _delta(previous.cgroup_cpu_seconds, current.cgroup_cpu_seconds)
        elapsed = current.at - previous.at
        if quota is not None and used is not None:
            return replace(
                metrics,
                cpu_limit_cores=quota,
                cpu_percent=used * 100 / (elapsed * quota) if elapsed > 0 else 0.0,
                sources={**metrics.sources, "cpu": "cgroup"},
            )
        return replace(
            metrics,
            cpu_percent=_host_cpu_percent(previous.host_cpu, current.host_cpu),
            sources={**metrics.sources, "cpu": "host"},
        )

    def _read_counters(self) -> _Counters:
        at = self._clock()
        cgroup_cpu = host_cpu = None
        if "cpu" in self._groups:
            cgroup_cpu = read_cpu_usage_seconds(self._directory) if self._directory is not None else None
            host_cpu = read_host_cpu_times()
        io_source, stall_seconds, avg10 = "host", None, None
        if "io" in self._groups:
            io_source, stall_seconds, avg10 = self._read_io()
        return _Counters(at, cgroup_cpu, host_cpu, io_source, stall_seconds, avg10)

    def _read_io(self) -> tuple[str, float | None, float | None]:
        pressure = read_io_pressure(self._directory) if self._directory is not None else None
        if pressure is not None:
            return "cgroup", pressure.some_total_seconds, pressure.some_avg10_percent
        pressure = read_host_io_pressure(self._host_io_pressure)
        if pressure is not None:
            return "host", pressure.some_total_seconds, pressure.some_avg10_percent
        return "host", read_host_cpu_times().iowait_seconds / host_cpu_count(), None


def _with_io(metrics: PerformanceMetrics, previous: _Counters, current: _Counters) -> PerformanceMetrics:
    stalled = _delta(previous.io_stall_seconds, current.io_stall_seconds)
    elapsed = current.at - previous.at
    comparable = stalled is not None and previous.io_source == current.io_source and elapsed > 0
    return replace(
        metrics,
        io_wait_ms=stalled * 1000 / elapsed if comparable and stalled is not None else 0.0,
        io_wait_seconds_total=current.io_stall_seconds,
        io_pressure_avg10_percent=current.io_avg10_percent,
        sources={**metrics.sources, "io": current.io_source},
    )


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else max(0.0, after - before)


def _host_cpu_percent(before: HostCpuTimes | None, after: HostCpuTimes | None) -> float:
    if before is None or after is None:
        return 0.0
    total = after.total_seconds - before.total_seconds
    busy = after.busy_seconds - before.busy_seconds
    return max(0.0, min(100.0, busy * 100 / total)) if total > 0 else 0.0
