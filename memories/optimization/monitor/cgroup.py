"""Readers for cgroup v2 interface files (memory, cpu, io pressure).

Every reader takes the cgroup *directory* and returns None when the file it needs is absent
(controller not enabled, cgroup v1 host, root cgroup), so callers fall back to host figures.
Units: bytes, seconds, cores, percent as named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True, slots=True)
class CgroupMemory:
    """``memory.current``, ``memory.max`` (None = "max", no limit) and the working set, in bytes."""

    current_bytes: int
    limit_bytes: int | None
    inactive_file_bytes: int

    @property
    def working_set_bytes(self) -> int:
        """``memory.current`` minus inactive page cache: what the kernel cannot easily reclaim."""
        return max(0, self.current_bytes - self.inactive_file_bytes)


@dataclass(frozen=True, slots=True)
class PressureStall:
    """The "some" line of a PSI file: share of time at least one task stalled."""

    some_avg10_percent: float
    some_total_seconds: float


def cgroup_v2_relative_path(proc_cgroup_text: str) -> str | None:
    """The unified-hierarchy path from ``/proc/<pid>/cgroup`` text (the ``0::`` line), or None."""
    for line in proc_cgroup_text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def find_cgroup_directory(mount: Path = CGROUP_MOUNT, proc_cgroup: Path = PROC_SELF_CGROUP) -> Path | None:
    """Locate this process's cgroup v2 directory, or None when there is no unified hierarchy.

    Tries ``<mount>/<path>`` and ``<mount>/unified/<path>`` (hybrid hosts), then the mount
    itself (a container whose cgroup namespace hides the host path).
    """
    try:
        relative = cgroup_v2_relative_path(proc_cgroup.read_text())
    except OSError:
        return None
    if relative is None:
        return None
    for base in (mount, mount / "unified"):
        for candidate in (base / relative.lstrip("/"), base):
            if (candidate / "cgroup.controllers").is_file():
                return candidate
    return None


def read_memory(directory: Path) -> CgroupMemory | None:
    """Memory figures of the cgroup, or None when ``memory.current`` is absent."""
    current = _read_int(directory / "memory.current")
    if current is None:
        return None
    limit_text = _read_text(directory / "memory.max")
    limit = None if limit_text is None or limit_text == "max" else int(limit_text)
    inactive_file = _read_keyed(directory / "memory.stat").get("inactive_file", 0)
    return CgroupMemory(current_bytes=current, limit_bytes=limit, inactive_file_bytes=inactive_file)


def read_cpu_limit_cores(directory: Path) -> float | None:
    """CPU quota from ``cpu.max`` ("quota period") in cores, or None when "max" or absent."""
    text = _read_text(directory / "cpu.max")
    if text is None:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max":
        return None
    return int(quota) / int(period or "100000")


def read_cpu_usage_seconds(directory: Path) -> float | None:
    """CPU time used by the cgroup since its creation (``cpu.stat`` usage_usec), in seconds."""
    usage = _read_keyed(directory / "cpu.stat").get("usage_usec")
    return None if usage is None else usage / 1_000_000


def read_io_pressure(directory: Path) -> PressureStall | None:
    """The cgroup's ``io.pressure`` "some" figures, or None when PSI is absent."""
    return read_pressure_file(directory / "io.pressure")


def read_pressure_file(path: Path) -> PressureStall | None:
    """Parse a PSI file (``some avg10=.. avg60=.. avg300=.. total=<usec>``); None when absent.

    Raises ValueError when the file exists but has no well-formed "some" line.
    """
    text = _read_text(path)
    if text is None:
        return None
    for line in text.splitlines():
        kind, _, fields = line.partition(" ")
        if kind == "some":
            values = dict(field.split("=", 1) for field in fields.split())
            return PressureStall(
                some_avg10_percent=float(values["avg10"]), some_total_seconds=int(values["total"]) / 1_000_000
            )
    raise ValueError(f"{path}: no 'some' line in pressure file")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    return None if text is None else int(text)


def _read_keyed(path: Path) -> dict[str, int]:
    """Parse "key value" lines (memory.stat, cpu.stat); empty when the file is absent."""
    text = _read_text(path)
    if text is None:
        return {}
    pairs = (line.split() for line in text.splitlines())
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2}
