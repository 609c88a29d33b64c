"""Manifests and probes for the end-to-end tests on the real node: policies, opted-in workloads, pod facts."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from memories.controlplane import LocalControlPlane
from memories.operator import constants
from tests.operator.kube_helpers import apply, wait_for

POLICY_API = f"{constants.GROUP}/{constants.VERSION}"
APP_LABELS = {"app": "checker", constants.INJECT_LABEL: constants.INJECT_ENABLED}
#: L1 and the volume-backed L2 of the test policy; the app writes more than L1 holds.
L1_SIZE, L2_SIZE, FILL = "16Mi", "96Mi", "40Mi"
#: Non-root like the agent, so both may open the arena file (mode 0600, owned by the agent's user).
APP_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def policy_objects(
    namespace: str, *, rollout: str = "Manual", l1_size: str = L1_SIZE, **extra: Any
) -> list[dict[str, Any]]:
    """A MemoryPool shared with the app and a CachePolicy with L1, L2 on its volume and that pool."""
    pool = {
        "apiVersion": POLICY_API,
        "kind": "MemoryPool",
        "metadata": {"name": "arena", "namespace": namespace},
        "spec": {"blockSizes": ["4Ki", "64Ki"], "totalSize": "4Mi", "shared": True},
    }
    policy = {
        "apiVersion": POLICY_API,
        "kind": "CachePolicy",
        "metadata": {"name": "checker", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "checker"}},
            "tiers": {"l1Size": l1_size, "l2Size": L2_SIZE},
            "memoryPoolRef": {"name": "arena"},
            "rollout": rollout,
            **extra,
        },
    }
    return [pool, policy]


def app_container(image: str, *args: str) -> dict[str, Any]:
    """The app: ``memories agent-check`` from the project image, talking to the agent over loopback."""
    return {
        "name": "app",
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["agent-check", *args],
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "192Mi"}},
        "securityContext": APP_SECURITY,
    }


def deployment(namespace: str, image: str, *, name: str = "checker", inject: bool = True) -> dict[str, Any]:
    """One replica of the app, opted in (or not, for an uninjected twin)."""
    labels = dict(APP_LABELS) if inject else {"app": f"{name}-plain"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": labels["app"]}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [app_container(image, "--arena", "--fill", FILL, "--watch")],
                    "securityContext": {"fsGroup": 65532},
                },
            },
        },
    }


def pods(cluster: LocalControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    """Pods matching a label selector (not being deleted)."""
    result = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    assert result.returncode == 0, result.stderr
    return [pod for pod in json.loads(result.stdout)["items"] if not pod["metadata"].get("deletionTimestamp")]


def container_status(pod: dict[str, Any], name: str) -> dict[str, Any]:
    """The status of container ``name`` (an init container or a main one)."""
    status = pod.get("status") or {}
    for entry in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if entry["name"] == name:
            return dict(entry)
    raise AssertionError(f"no status for container {name} in {pod['metadata']['name']}")


def container_ready(pod: dict[str, Any], name: str) -> bool:
    """Whether container ``name`` is ready (False while the pod has no status for it yet: just created, or deleting)."""
    status = pod.get("status") or {}
    entries = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    return any(entry["name"] == name and entry.get("ready") is True for entry in entries)


def ready_pod(cluster: LocalControlPlane, namespace: str, selector: str, timeout: float = 180) -> dict[str, Any]:
    """Wait for one Ready pod matching ``selector`` and return it."""

    def probe() -> dict[str, Any] | None:
        for pod in pods(cluster, namespace, selector):
            conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions", [])}
            if conditions.get("Ready") == "True":
                return pod
        return None

    return wait_for(
        probe,
        timeout_seconds=timeout,
        what=f"a Ready pod {selector} in {namespace}",
        describe=lambda: [p.get("status") for p in pods(cluster, namespace, selector)],
    )


def log_events(cluster: LocalControlPlane, namespace: str, pod: str, container: str = "app") -> list[dict[str, Any]]:
    """The JSON lines ``memories agent-check`` printed."""
    result = cluster.kubectl("logs", pod, "-n", namespace, "-c", container)
    events = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def event(events: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The last event called ``name``."""
    found = [item for item in events if item["event"] == name]
    return found[-1] if found else None


def wait_for_event(
    cluster: LocalControlPlane, namespace: str, pod: str, name: str, timeout: float = 120
) -> dict[str, Any]:
    """Wait until the app logged event ``name``."""
    return wait_for(
        lambda: event(log_events(cluster, namespace, pod), name),
        timeout_seconds=timeout,
        what=f"event {name} in the log of {pod}",
        describe=lambda: cluster.kubectl("logs", pod, "-n", namespace, "-c", "app").stdout[-2000:],
    )


def scrape(url: str) -> str:
    """GET ``url`` from this host (no proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return str(response.read().decode())


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        sample, _, value = line.rpartition(" ")
        if all(f'{key}="{wanted}"' in sample for key, wanted in labels.items()):
            total += float(value)
    return total


def pod_volume_dir(cluster: LocalControlPlane, pod: dict[str, Any], volume: str) -> Path:
    """Where the kubelet keeps an emptyDir volume of ``pod`` on this machine."""
    assert cluster.node is not None
    uid: str = pod["metadata"]["uid"]
    root = cluster.node.instance.directory / "kubelet" / "pods" / uid / "volumes"
    return root / "kubernetes.io~empty-dir" / volume


def apply_all(cluster: LocalControlPlane, *manifests: dict[str, Any]) -> None:
    """kubectl apply, failing with kubectl's message."""
    apply(cluster, *manifests)
