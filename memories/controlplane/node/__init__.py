"""A real node for the local control plane: containerd + runc + a CNI bridge + a kubelet built from Go modules.

See :class:`RealNode` and docs/realnode.md; :func:`node_support_problems` says whether this machine can run one.
"""

from __future__ import annotations

from memories.controlplane.node.real_node import RealNode

__all__ = ["RealNode"]
