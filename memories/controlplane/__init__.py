"""A local Kubernetes control plane (etcd + kube-apiserver) for the tests and ``memories dev``.

Binaries are built once by ``scripts/controlplane-binaries`` and cached by Kubernetes version.
"""

from __future__ import annotations

from memories.controlplane.binaries import ControlPlaneBinaries, build_binaries, locate_binaries
from memories.controlplane.certificates import CertificateAuthority, KeyPair
from memories.controlplane.local_cluster import LocalControlPlane

__all__ = [
    "CertificateAuthority",
    "ControlPlaneBinaries",
    "KeyPair",
    "LocalControlPlane",
    "build_binaries",
    "locate_binaries",
]
