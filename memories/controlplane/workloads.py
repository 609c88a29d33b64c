"""What a control plane needs so Deployments become running Pods: controllers, a scheduler and a fake node.

kube-controller-manager turns Deployments into ReplicaSets and Pods, kube-scheduler binds Pods to a node, and kwok
plays the kubelet of a fake node (annotated ``kwok.x-k8s.io/node: fake``) so Pods reach Running without containers.
These are the command lines and the Node; :class:`~memories.controlplane.local_cluster.LocalControlPlane` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: kwok's stages (node Ready with a lease, pods Running), shipped with the package.
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
#: The fake node kwok manages; pods are scheduled there.
FAKE_NODE_NAME = "memories-fake-node"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def _component_flags(kubeconfig: Path, cert_dir: Path, port: int) -> list[str]:
    """Flags shared by kube-controller-manager and kube-scheduler: admin kubeconfig, loopback only, no election."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--leader-elect=false",
        "--v=1",
    ]


def controller_manager_command(binary: Path, kubeconfig: Path, pki: Path, port: int) -> list[str]:
    """kube-controller-manager signing service-account tokens with the API server's key."""
    return [
        str(binary),
        *_component_flags(kubeconfig, pki / "controller-manager", port),
        f"--service-account-private-key-file={pki / 'service-account.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=false",
        "--controllers=*",
    ]


def scheduler_command(binary: Path, kubeconfig: Path, pki: Path, port: int) -> list[str]:
    """kube-scheduler with the default profile."""
    return [str(binary), *_component_flags(kubeconfig, pki / "scheduler", port)]


def kwok_command(binary: Path, kubeconfig: Path, port: int) -> list[str]:
    """kwok out of cluster, managing only nodes annotated ``kwok.x-k8s.io/node: fake``."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--config={KWOK_STAGES}",
        "--node-lease-duration-seconds=40",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        "--cidr=10.244.0.0/16",
        "--node-ip=127.0.0.1",
        f"--server-address=127.0.0.1:{port}",
    ]


def fake_node() -> dict[str, Any]:
    """A Node kwok keeps Ready, with room for a few hundred small pods."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": FAKE_NODE_NAME,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": FAKE_NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "500"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "500"},
        },
    }
