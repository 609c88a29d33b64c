"""A CachePolicy's L2 on a PersistentVolumeClaim or a node directory (tiers.l2Volume), against the real API
server: the policy renders a shared L2 for the agents, the webhook mounts the claim into every replica, and a
pod that replaces another gets the same claim (reopening it warm is the agent's part: tests/sidecar/test_l2_slots.py).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from memories.controlplane import LocalControlPlane
from memories.operator import constants
from memories.operator.local import LocalOperator
from tests.operator.kube_helpers import apply, condition, get, pod, wait_for
from tests.operator.test_operator import OPTED_IN, operator, policy, ready, workspace

__all__ = ["operator", "workspace"]  # fixtures, shared with test_operator.py

PERSISTENT_TIERS = {
    "l1Size": "64Mi",
    "l2Size": "256Mi",
    "l2Volume": {"persistentVolumeClaim": {"claimName": "cache"}},
}


def bound_claim(namespace_name: str) -> list[dict[str, Any]]:
    """A ReadWriteMany claim ``cache`` and the volume it binds to (no provisioner runs here)."""
    volume_name = f"cache-{namespace_name}"
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume_name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "manual",
            "hostPath": {"path": f"/tmp/{volume_name}"},
            "claimRef": {"namespace": namespace_name, "name": "cache"},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "cache", "namespace": namespace_name},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "manual",
            "volumeName": volume_name,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    return [volume, claim]


def deployment(namespace_name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace_name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": OPTED_IN},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
        },
    }


def running_pods(control_plane: LocalControlPlane, namespace_name: str) -> list[dict[str, Any]]:
    listed = control_plane.kubectl("get", "pods", "-n", namespace_name, "-l", "app=web", "-o", "json")
    items = json.loads(listed.stdout)["items"] if listed.returncode == 0 else []
    return [
        item
        for item in items
        if item["status"].get("phase") == "Running" and not item["metadata"].get("deletionTimestamp")
    ]


def agent_of(pod_body: dict[str, Any]) -> dict[str, Any]:
    containers = [*pod_body["spec"].get("initContainers", []), *pod_body["spec"]["containers"]]
    return next(container for container in containers if container["name"] == constants.SIDECAR_CONTAINER_NAME)


def persistent_volume_of(pod_body: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (volume for volume in pod_body["spec"]["volumes"] if volume["name"] == constants.L2_PERSISTENT_VOLUME), None
    )


def test_replicas_mount_the_claim_and_a_replacement_gets_it_too(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, *bound_claim(workspace))
    wait_for(
        lambda: (get(control_plane, "pvc", "cache", workspace) or {}).get("status", {}).get("phase") == "Bound",
        what="the claim bound",
    )
    apply(control_plane, policy(workspace, tiers=PERSISTENT_TIERS))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    config_map = get(control_plane, "configmap", "memories-web-config", workspace)
    assert config_map is not None
    cache = yaml.safe_load(config_map["data"][constants.CONFIG_FILE_NAME])["cache"]
    assert (cache["l2Path"], cache["l2Shared"]) == (f"/var/cache/memories/l2/{workspace}/web", True)

    apply(control_plane, deployment(workspace, replicas=2))

    def both_running() -> list[dict[str, Any]] | None:
        running = running_pods(control_plane, workspace)
        return running if len(running) == 2 else None

    pods = wait_for(both_running, what="both replicas Running with the claim", timeout_seconds=90)
    for pod_body in pods:
        assert persistent_volume_of(pod_body) == {
            "name": constants.L2_PERSISTENT_VOLUME,
            "persistentVolumeClaim": {"claimName": "cache"},
        }
        mounts = {mount["name"]: mount["mountPath"] for mount in agent_of(pod_body)["volumeMounts"]}
        assert mounts[constants.L2_PERSISTENT_VOLUME] == "/var/cache/memories/l2"

    replaced = pods[0]["metadata"]["name"]
    deleted = control_plane.kubectl("delete", "pod", replaced, "-n", workspace, "--wait=false")
    assert deleted.returncode == 0, deleted.stderr

    def replacement() -> dict[str, Any] | None:
        fresh = [item for item in running_pods(control_plane, workspace) if item["metadata"]["name"] != replaced]
        return next((item for item in fresh if item["metadata"]["name"] != pods[1]["metadata"]["name"]), None)

    successor = wait_for(replacement, what="the replacement pod Running", timeout_seconds=90)
    assert persistent_volume_of(successor) == persistent_volume_of(pods[0])


def test_a_node_directory_is_mounted_and_must_exist(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    tiers = {"l1Size": "64Mi", "l2Size": "256Mi", "l2Volume": {"hostPath": {"path": "/srv/memories"}}}
    apply(control_plane, policy(workspace, tiers=tiers))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    apply(control_plane, pod("web-1", workspace, OPTED_IN))
    created = get(control_plane, "pod", "web-1", workspace)
    assert created is not None
    assert persistent_volume_of(created) == {
        "name": constants.L2_PERSISTENT_VOLUME,
        "hostPath": {"path": "/srv/memories", "type": "Directory"},
    }


def test_moving_l2_to_a_claim_marks_running_pods_outdated(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, policy(workspace))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    apply(control_plane, pod("web-1", workspace, OPTED_IN))
    before = get(control_plane, "pod", "web-1", workspace)
    assert before is not None and persistent_volume_of(before) is None
    apply(control_plane, policy(workspace, tiers=PERSISTENT_TIERS))

    def outdated() -> dict[str, Any] | None:
        rollout = condition(get(control_plane, "cachepolicy", "web", workspace), "RolloutRequired")
        return rollout if rollout and rollout["status"] == "True" else None

    rollout = wait_for(outdated, what="RolloutRequired for the pod without the claim", timeout_seconds=60)
    assert rollout["reason"] == "PodsOutdated" and "web-1" in rollout["message"]
