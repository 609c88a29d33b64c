"""Machine-wide settings a node changes while it runs, put back when the last node of the machine stops.

The kubelet sets six kernel tunables at start-up and has no option to leave them alone (``protectKernelDefaults``
makes it refuse to start instead): ``vm.overcommit_memory=1``, ``vm.panic_on_oom=0``, ``kernel.panic=10``,
``kernel.panic_on_oops=1``, ``kernel.keys.root_maxkeys`` and ``kernel.keys.root_maxbytes``. IP forwarding is
recorded too (the CNI bridge plugin would turn it on as a gateway; ours is configured not to). And while any node
runs, an ``unreachable`` route covers every node's address block, so a packet for a pod whose bridge is already
gone fails on this machine instead of following the default route off it.

Nodes also create a few machine-wide directories that no setting moves (the kubelet's device-plugin socket in
``/var/lib/kubelet``, libcni's cache in ``/var/lib/cni``, containerd's shim sockets in ``/run/containerd``, the
kubelet's log links in ``/var/log/containers``): those that did not exist before the first node are removed after
the last one, once empty.

Several nodes may run at once (tests of several worktrees): the first records the original values in
``<node root>/host-settings.json``, every node adds itself as a holder, and the last holder to leave (or the
sweep that finds every holder dead) writes the originals back, deletes the route and removes the record. All of
it under one lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from memories.controlplane.node.network import NODE_BLOCK, ip_command

SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
PROC_SYS = Path("/proc/sys")
#: Directories nodes create outside their own directory (a kubelet or containerd path that is not configurable).
MACHINE_DIRECTORIES = (
    Path("/var/lib/kubelet"),
    Path("/var/lib/cni"),
    Path("/run/containerd"),
    Path("/var/log/containers"),
)
#: The kubelet's device-plugin socket (hard-coded), left behind by a kubelet that stopped.
DEVICE_PLUGIN_SOCKET = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
RECORD_NAME = "host-settings.json"
#: Metric of the safety route: any connected /24 of a live bridge is more specific and wins.
SAFETY_ROUTE = ("unreachable", NODE_BLOCK, "metric", "4242")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".host-settings.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield root / RECORD_NAME


def read_sysctls() -> dict[str, str]:
    """The current value of every tracked setting (as the text in ``/proc/sys``)."""
    return {name: (PROC_SYS / name).read_text().strip() for name in SYSCTLS}


def _remove_if_empty(directory: Path) -> None:
    """Remove ``directory`` and its subdirectories bottom-up, as far as they are empty."""
    if not directory.is_dir() or directory.is_symlink():
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            _remove_if_empty(child)
    with contextlib.suppress(OSError):
        directory.rmdir()


def _restore(record: dict[str, Any]) -> None:
    for name, value in record["originals"].items():
        path = PROC_SYS / name
        if path.read_text().strip() != value:
            path.write_text(value + "\n")
    ip_command("route", "delete", *SAFETY_ROUTE, check=False)
    DEVICE_PLUGIN_SOCKET.unlink(missing_ok=True)  # no kubelet of ours runs any more
    for directory in MACHINE_DIRECTORIES:
        if str(directory) not in record.get("preexisting", []):
            _remove_if_empty(directory)


def acquire(root: Path, holder: str) -> None:
    """Register ``holder``; the first one records the originals and adds the safety route."""
    with _locked(root) as record_path:
        record = json.loads(record_path.read_text()) if record_path.exists() else None
        if record is None:
            record = {
                "originals": read_sysctls(),
                "preexisting": [str(directory) for directory in MACHINE_DIRECTORIES if directory.exists()],
                "holders": [],
            }
            ip_command("route", "replace", *SAFETY_ROUTE)
        record["holders"] = sorted({*record["holders"], holder})
        record_path.write_text(json.dumps(record, indent=2))


def release(root: Path, holder: str, is_alive: Callable[[str], bool]) -> bool:
    """Drop ``holder`` and every holder that is no longer alive; the last one out restores the machine.

    Returns True when the originals were written back (no node runs any more).
    """
    with _locked(root) as record_path:
        if not record_path.exists():
            return False
        record = json.loads(record_path.read_text())
        record["holders"] = [other for other in record["holders"] if other != holder and is_alive(other)]
        if record["holders"]:
            record_path.write_text(json.dumps(record, indent=2))
            return False
        _restore(record)
        record_path.unlink()
        return True
