"""The node's own cgroup subtree (the kubelet's ``cgroupRoot``) in every cgroup hierarchy of the machine.

This machine has cgroup v1 (one hierarchy per controller, plus the named ``systemd`` one and the v2 ``unified``
mount of a hybrid set-up). The kubelet puts every pod below ``cgroupRoot``, which must exist beforehand in each
hierarchy; removing the subtree again means killing what still runs in it, then removing directories bottom-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from memories.controlplane.node.mounts import mount_table
from memories.errors import ControlPlaneError


def hierarchies() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 filesystem, in mountinfo order."""
    return [mount_point for mount_point, filesystem in mount_table() if filesystem in ("cgroup", "cgroup2")]


def create_root(name: str) -> list[Path]:
    """Create ``/<name>`` in every hierarchy (cpuset gets its parent's cpus and mems); returns the directories."""
    created = []
    for hierarchy in hierarchies():
        directory = hierarchy / name
        directory.mkdir(exist_ok=True)
        for inherited in ("cpuset.cpus", "cpuset.mems"):
            # A new v1 cpuset is empty and refuses tasks until both are set.
            parent_file, child_file = hierarchy / inherited, directory / inherited
            if parent_file.exists() and child_file.exists() and not child_file.read_text().strip():
                child_file.write_text(parent_file.read_text())
        created.append(directory)
    return created


def _directories_bottom_up(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    below = [Path(parent) / child for parent, children, _ in os.walk(root) for child in children]
    return [*sorted(below, key=lambda path: len(path.parts), reverse=True), root]


def processes_in(name: str) -> set[int]:
    """Process ids anywhere below ``/<name>`` in any hierarchy."""
    pids: set[int] = set()
    for hierarchy in hierarchies():
        for directory in _directories_bottom_up(hierarchy / name):
            with contextlib.suppress(OSError):
                pids.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
    return pids


def kill_processes_in(name: str, *, timeout_seconds: float = 10.0) -> None:
    """SIGKILL everything below ``/<name>`` until nothing is left (processes may fork meanwhile).

    Raises:
        ControlPlaneError: processes are still there after the timeout.
    """
    deadline = time.monotonic() + timeout_seconds
    while pids := processes_in(name):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"processes still running in cgroup /{name}: {sorted(pids)[:10]}")
        time.sleep(0.05)


def remove_root(name: str, *, timeout_seconds: float = 10.0) -> None:
    """Kill what runs below ``/<name>`` and remove the subtree from every hierarchy; absent is fine.

    Raises:
        ControlPlaneError: a directory stays busy after the timeout.
    """
    kill_processes_in(name, timeout_seconds=timeout_seconds)
    deadline = time.monotonic() + timeout_seconds
    for hierarchy in hierarchies():
        for directory in _directories_bottom_up(hierarchy / name):
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:  # EBUSY while a killed task is still being reaped
                    if time.monotonic() > deadline:
                        raise ControlPlaneError(f"cannot remove cgroup {directory}: {error}") from error
                    time.sleep(0.05)
