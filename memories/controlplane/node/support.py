"""Can this machine run a real node? The answer as a list of problems, each saying how to fix it."""

from __future__ import annotations

import os
import shutil

from memories.controlplane.binaries import ControlPlaneBinaries
from memories.controlplane.node.cgroups import hierarchies
from memories.controlplane.node.network import CNI_BIN_DIR

#: Debian packages that provide what a node runs (scripts/setup installs them).
NODE_PACKAGES = "runc containerd containernetworking-plugins"


def node_support_problems(binaries: ControlPlaneBinaries) -> list[str]:
    """Why a node cannot run here (empty when it can): root, runtime packages, cgroups, the kubelet."""
    problems = []
    if os.geteuid() != 0:
        problems.append("a node needs root (containers, a bridge, cgroups and mounts)")
    missing = [name for name in ("containerd", "ctr", "runc", "ip") if shutil.which(name) is None]
    missing += [
        f"{CNI_BIN_DIR}/{plugin}"
        for plugin in ("bridge", "host-local", "loopback")
        if not (CNI_BIN_DIR / plugin).is_file()
    ]
    if missing:
        problems.append(
            f"missing {', '.join(missing)}: apt-get install {NODE_PACKAGES} iproute2 (scripts/setup does it)"
        )
    mounted = {path.name for path in hierarchies()}
    if not {"memory", "cpu", "pids"} <= mounted:
        problems.append(
            f"cgroup v1 hierarchies memory, cpu and pids are not all mounted (found: {', '.join(sorted(mounted)) or 'none'}); "
            "only cgroup v1 and hybrid machines are supported"
        )
    if binaries.kubelet is None:
        problems.append(f"no kubelet in {binaries.bin_dir}: build it with scripts/controlplane-binaries")
    return problems
