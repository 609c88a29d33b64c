"""A control plane with a real node (containerd + kubelet, pods on a CNI bridge) for the tests marked ``realnode``.

Started once per session. On a machine that cannot run a node (not root, packages or images missing) the tests
fail with the reason and how to fix it; ``MEMORIES_SKIP_REALNODE=1`` skips them on purpose instead (never in CI).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memories.controlplane import LocalControlPlane, locate_binaries
from memories.controlplane.binaries import ControlPlaneBinaries
from memories.controlplane.node import RealNode
from memories.controlplane.node.host_settings import RECORD_NAME, read_sysctls
from memories.controlplane.node.images import NodeImages, locate_images
from memories.controlplane.node.instance import node_root
from memories.controlplane.node.support import node_support_problems
from memories.errors import ControlPlaneError

SKIP_VARIABLE = "MEMORIES_SKIP_REALNODE"


def _unavailable(reason: str) -> None:
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: real-node tests skipped on request ({reason})")
    pytest.fail(f"the real node cannot run here: {reason} (or set {SKIP_VARIABLE}=1 to skip)", pytrace=False)


@pytest.fixture(scope="session")
def node_binaries() -> ControlPlaneBinaries:
    """The control-plane binaries, the kubelet among them; fails (or skips on request) when this machine cannot run a node."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: real-node tests skipped on request")
    try:
        binaries = locate_binaries()
    except ControlPlaneError as error:
        _unavailable(str(error))
        raise
    problems = node_support_problems(binaries)
    if problems:
        _unavailable("; ".join(problems))
    return binaries


@pytest.fixture(scope="session")
def node_images(node_binaries: ControlPlaneBinaries) -> NodeImages:
    """The image archives for the current sources (``scripts/node-images`` builds them; scripts/setup runs it)."""
    try:
        return locate_images()
    except ControlPlaneError as error:
        _unavailable(str(error))
        raise


def start_real_cluster(binaries: ControlPlaneBinaries, images: NodeImages, workdir: Path) -> LocalControlPlane:
    """A started control plane with its own real node (the caller stops it)."""
    node = RealNode.with_images(binaries.kubelet or Path(), images)
    return LocalControlPlane(binaries, workdir=workdir, node=node).start()


@pytest.fixture(scope="session")
def real_cluster(
    node_binaries: ControlPlaneBinaries, node_images: NodeImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane]:
    """etcd, kube-apiserver, controllers, scheduler and a real node with every image imported.

    After it stops, the machine's settings must be what they were before, unless another node (another run on
    this machine) still holds them.
    """
    before = read_sysctls()
    began = time.monotonic()
    cluster = start_real_cluster(node_binaries, node_images, tmp_path_factory.mktemp("real-cluster"))
    print(f"real cluster up in {time.monotonic() - began:.1f} s", flush=True)
    try:
        yield cluster
    finally:
        cluster.stop()
    if not (node_root() / RECORD_NAME).exists():
        assert read_sysctls() == before, "the node did not restore the machine's kernel settings"
