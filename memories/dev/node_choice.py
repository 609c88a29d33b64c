"""Which node ``memories dev`` runs: a real one (containers run) when this machine allows it, else kwok's fake one.

The real node needs root, the runtime packages, cgroup v1 and the kubelet (``scripts/setup`` provides them all on
Debian) and the node's images, which are built here on first use (a few minutes, with progress). Without them the
system still comes up, on kwok's fake node, and says why.
"""

from __future__ import annotations

from collections.abc import Callable

from memories.controlplane.binaries import ControlPlaneBinaries
from memories.controlplane.node import RealNode
from memories.controlplane.node.images import NodeImages, locate_images
from memories.controlplane.node.support import node_support_problems
from memories.errors import ControlPlaneError, InstallationError, MemoriesError

#: ``--node`` values: real (fail when impossible), kwok (never a real node), auto (real when possible).
NODE_MODES = ("auto", "real", "kwok")


def _images(announce: Callable[[str], None]) -> NodeImages:
    try:
        return locate_images()
    except ControlPlaneError:
        from memories.controlplane.node.image_build import ensure_images

        announce("building the real node's images for these sources (a few minutes the first time; progress follows)")
        return ensure_images()


def choose_node(
    binaries: ControlPlaneBinaries, mode: str, announce: Callable[[str], None]
) -> tuple[RealNode | None, NodeImages | None]:
    """The node to run and its images, or (None, None) for kwok; the choice and its reason are announced.

    Raises:
        MemoriesError: ``mode`` is "real" and this machine cannot run a real node (the message says why).
    """
    if mode == "kwok":
        announce("kwok's fake node (--node kwok): pods are scheduled and injected, but no container runs")
        return None, None
    problems = node_support_problems(binaries)
    images = None
    if not problems:
        try:
            images = _images(announce)
        except (ControlPlaneError, InstallationError) as error:  # InstallationError: a wheel cannot build images
            problems = [str(error)]
    if problems or images is None or binaries.kubelet is None:
        reason = "; ".join(problems)
        if mode == "real":
            raise MemoriesError(f"the real node cannot run here: {reason}")
        announce(
            f"no real node on this machine ({reason}): falling back to kwok's fake node, where pods are scheduled "
            "and injected but no container runs (see docs/realnode.md)"
        )
        return None, None
    return RealNode.with_images(binaries.kubelet, images, progress=announce), images
