"""Undo a node, whatever state it was left in: idempotent, and driven only by its on-disk record.

The same function runs when a node stops normally, in the reaper when the process that started the node died
without stopping it, and in the sweep that every new node runs first (for nodes whose reaper was killed too). The
order matters: containers are killed while their shims still run (so they are reaped), network namespaces are
unmounted before the bridge goes, and the bridge goes only after the API server that listens on it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from memories.controlplane.node import cgroups, host_settings
from memories.controlplane.node.containerd import SHIM_SOCKET_DIR, ContainerdLayout
from memories.controlplane.node.instance import NodeInstance, ProcessRef, node_root, recorded_instances
from memories.controlplane.node.mounts import remove_tree, unmount_all_under
from memories.controlplane.node.network import NodeNetwork, delete_bridge

logger = logging.getLogger(__name__)
#: Node processes, stopped before the containers are killed; the control plane's processes come after.
KUBELET = "kubelet"
CONTAINERD = "containerd"
#: Where libcni caches each attachment's result, named after the network (machine-wide in containerd 1.6).
CNI_CACHE_DIR = Path("/var/lib/cni/results")
#: The kubelet links every container's log here (not configurable), pointing into the node's pod log directory.
CONTAINER_LOG_LINKS = Path("/var/log/containers")


def stop_process(ref: ProcessRef, timeout_seconds: float = 15.0) -> None:
    """SIGTERM the process if it is still the recorded one, SIGKILL after ``timeout_seconds``."""
    for sig, wait_seconds in ((signal.SIGTERM, timeout_seconds), (signal.SIGKILL, 5.0)):
        if not ref.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(ref.pid, sig)
        deadline = time.monotonic() + wait_seconds
        while ref.alive() and time.monotonic() < deadline:
            time.sleep(0.05)


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def shim_processes(socket: Path) -> list[ProcessRef]:
    """containerd shims started by the containerd serving ``socket`` (they outlive it when it is killed)."""
    shims = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        command = _command_line(int(entry.name))
        if command and "containerd-shim" in Path(command[0]).name and str(socket) in command:
            with contextlib.suppress(ProcessLookupError):
                shims.append(ProcessRef.of(int(entry.name)))
    return shims


def _listening_unix_sockets(pid: int) -> list[Path]:
    """Paths of the unix sockets ``pid`` has open (a shim's own socket in /run/containerd/s among them)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(descriptor)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    paths = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes:
            paths.append(Path(fields[7]))
    return paths


def _kill_shims(layout: ContainerdLayout) -> None:
    for shim in shim_processes(layout.socket):
        sockets = [path for path in _listening_unix_sockets(shim.pid) if path.parent == SHIM_SOCKET_DIR]
        stop_process(shim, timeout_seconds=2.0)
        for path in sockets:
            path.unlink(missing_ok=True)


def _sandbox_ids(layout: ContainerdLayout) -> set[str]:
    """Ids of the pod sandboxes this containerd made (from its CRI directories)."""
    ids: set[str] = set()
    for base in (layout.directory / "root", layout.directory / "state"):
        sandboxes = base / "io.containerd.grpc.v1.cri" / "sandboxes"
        if sandboxes.is_dir():
            ids.update(path.name for path in sandboxes.iterdir())
    return ids


def _remove_machine_wide_leftovers(instance: NodeInstance, network: NodeNetwork | None) -> None:
    if CNI_CACHE_DIR.is_dir():
        # libcni caches one result per attachment: ours on the pod network, and the loopback one per sandbox.
        patterns = [
            f"cni-loopback-{sandbox}-lo"
            for sandbox in _sandbox_ids(ContainerdLayout(instance.directory / "containerd"))
        ]
        if network is not None:
            patterns.append(f"{network.network_name()}-*")
        for pattern in patterns:
            for cached in CNI_CACHE_DIR.glob(pattern):
                cached.unlink(missing_ok=True)
    if CONTAINER_LOG_LINKS.is_dir():
        for link in CONTAINER_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(str(instance.directory) + os.sep):
                    link.unlink()


def stop_node_processes(instance: NodeInstance) -> None:
    """Stop the kubelet, kill every container, then the shims and containerd; unmount what they left."""
    layout = ContainerdLayout(instance.directory / "containerd")
    if KUBELET in instance.processes:
        stop_process(instance.processes[KUBELET])
    if instance.cgroup_name is not None:
        cgroups.kill_processes_in(instance.cgroup_name)
    _kill_shims(layout)
    if CONTAINERD in instance.processes:
        stop_process(instance.processes[CONTAINERD])
    _kill_shims(layout)  # one that containerd started while it was being stopped
    if instance.directory.exists():
        unmount_all_under(instance.directory)


def release_node(instance: NodeInstance) -> None:
    """Remove the cgroups, the bridge, the machine-wide files and the directory; restore the host settings."""
    network = NodeNetwork(instance.network_index) if instance.network_index is not None else None
    if instance.cgroup_name is not None:
        cgroups.remove_root(instance.cgroup_name)
    if network is not None:
        delete_bridge(network.bridge)
    _remove_machine_wide_leftovers(instance, network)
    if instance.holds_host_settings:
        root = instance.directory.parent
        host_settings.release(root, instance.id, lambda holder: _holder_alive(root, holder))
    for directory in instance.owned_directories:
        remove_tree(Path(directory))
    remove_tree(instance.directory)


def _holder_alive(root: Path, holder: str) -> bool:
    record = root / holder / "instance.json"
    if not record.exists():
        return False
    try:
        return not NodeInstance.load(record).abandoned()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def teardown(instance: NodeInstance) -> None:
    """Everything: node processes, then the control plane's processes recorded with them, then the rest."""
    stop_node_processes(instance)
    for name, ref in reversed(instance.processes.items()):
        if name not in (KUBELET, CONTAINERD):
            stop_process(ref)
    release_node(instance)


def sweep_abandoned(root: Path | None = None) -> list[str]:
    """Tear down every node under ``root`` whose owner and reaper are both gone; returns their ids."""
    swept = []
    for instance in recorded_instances(root or node_root()):
        if instance.abandoned():
            logger.warning("tearing down node %s left behind by a process that is gone", instance.id)
            teardown(instance)
            swept.append(instance.id)
    return swept
