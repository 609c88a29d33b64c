"""The session control plane runs workloads: Deployments become Running Pods on the kwok node."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import yaml

from memories.controlplane import LocalControlPlane
from memories.controlplane.workloads import FAKE_NODE_NAME

pytestmark = pytest.mark.controlplane


def pods(control_plane: LocalControlPlane, namespace: str) -> list[dict[str, Any]]:
    result = control_plane.kubectl("get", "pods", "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


def wait_for_running(control_plane: LocalControlPlane, namespace: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = pods(control_plane, namespace)
        if sum(pod["status"].get("phase") == "Running" for pod in current) == count:
            return current
        time.sleep(0.5)
    raise AssertionError(f"{count} pods not Running in {namespace}: {[pod['status'] for pod in current]}")


def test_deployment_pods_run_on_the_fake_node(control_plane: LocalControlPlane) -> None:
    namespace = f"workloads-{uuid.uuid4().hex[:8]}"
    assert control_plane.kubectl("create", "namespace", namespace).returncode == 0
    created = control_plane.kubectl(
        "create", "deployment", "web", "-n", namespace, "--image=registry.k8s.io/pause:3.10", "--replicas=2"
    )
    assert created.returncode == 0, created.stderr
    running = wait_for_running(control_plane, namespace, 2)
    assert {pod["spec"]["nodeName"] for pod in running} == {FAKE_NODE_NAME}


def test_native_sidecar_pod_reaches_running(control_plane: LocalControlPlane) -> None:
    namespace = f"sidecar-{uuid.uuid4().hex[:8]}"
    assert control_plane.kubectl("create", "namespace", namespace).returncode == 0
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "initContainers": [{"name": "agent", "image": "registry.k8s.io/pause:3.10", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
        },
    }
    created = control_plane.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(pod))
    assert created.returncode == 0, created.stderr
    (running,) = wait_for_running(control_plane, namespace, 1)
    assert running["spec"]["initContainers"][0]["restartPolicy"] == "Always"
