"""CachePolicy changes reaching running pods on the real node: reloaded in place, flagged, rolled, or the agent
upgraded in place (``upgrade: InPlace``: only the agent restarts, the app keeps running, L2 stays warm)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from memories.controlplane import LocalControlPlane
from memories.controlplane.node.images import NodeImages
from memories.operator import constants
from tests.e2e.realnode_workloads import (
    container_ready,
    container_status,
    deployment,
    log_events,
    metric,
    pods,
    policy_objects,
    ready_pod,
    scrape,
    wait_for_event,
)
from tests.helm.chart import Helm
from tests.operator.kube_helpers import apply, condition, get, wait_for

pytestmark = pytest.mark.realnode
#: What the app checks from inside the pod: the oldest values ``agent-check --fill`` wrote (deterministic bytes).
READ_FILL = """
import redis
from memories.demo.agent_check import fill_value
client = redis.Redis(host="127.0.0.1", port=6380)
print(all(client.get(f"agent-check:fill:{i}") == fill_value(i) for i in range(8)))
"""
#: A SET of 2 MiB from the app; prints OK or the agent's error.
BIG_SET = """
import redis
try:
    print(redis.Redis(host="127.0.0.1", port=6380).set("big", b"x" * (2 * 1024 * 1024)))
except redis.RedisError as error:  # an error reply, or the connection closed on the oversized bulk
    print("refused:", error)
"""


def _namespace(cluster: LocalControlPlane) -> str:
    name = f"change-{uuid.uuid4().hex[:6]}"
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def _agent(images: NodeImages) -> str:
    assert images.agent is not None
    return images.agent.name


def _start(cluster: LocalControlPlane, images: NodeImages, **policy: Any) -> tuple[str, dict[str, Any]]:
    namespace = _namespace(cluster)
    apply(cluster, *policy_objects(namespace, **policy))
    wait_for(
        lambda: (c := condition(get(cluster, "cachepolicy", "checker", namespace), "Ready")) and c["status"] == "True",
        timeout_seconds=60,
        what="the policy Ready",
    )
    apply(cluster, deployment(namespace, _agent(images)))
    pod = ready_pod(cluster, namespace, "app=checker")
    wait_for_event(cluster, namespace, pod["metadata"]["name"], "fill", timeout=180)
    return namespace, pod


def _patch_policy(cluster: LocalControlPlane, namespace: str, patch: dict[str, Any]) -> None:
    result = cluster.kubectl(
        "patch", "cachepolicy", "checker", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": patch})
    )
    assert result.returncode == 0, result.stderr


def _in_app(cluster: LocalControlPlane, namespace: str, pod: str, program: str) -> str:
    result = cluster.kubectl("exec", pod, "-n", namespace, "-c", "app", "--", "python", "-c", program)
    assert result.returncode == 0, result.stderr
    return str(result.stdout.strip())


def _rollout_required(cluster: LocalControlPlane, namespace: str) -> tuple[str, str] | None:
    found = condition(get(cluster, "cachepolicy", "checker", namespace), "RolloutRequired")
    return (found["status"], found["reason"]) if found else None


def test_limits_change_reaches_the_running_agent_without_a_restart(
    real_cluster: LocalControlPlane, operator_release: Helm, node_images: NodeImages
) -> None:
    namespace, pod = _start(real_cluster, node_images)
    name = pod["metadata"]["name"]
    assert _in_app(real_cluster, namespace, name, BIG_SET) == "True"
    _patch_policy(real_cluster, namespace, {"sidecar": {"limits": {"maxValueSize": "1Mi"}}})
    refused = wait_for(
        lambda: out if (out := _in_app(real_cluster, namespace, name, BIG_SET)).startswith("refused") else None,
        timeout_seconds=90,
        what="the agent to apply the new limit (ConfigMap → kubelet volume sync → agent reload)",
    )
    assert "refused" in refused
    [now] = pods(real_cluster, namespace, "app=checker")
    assert now["metadata"]["uid"] == pod["metadata"]["uid"]
    assert container_status(now, constants.SIDECAR_CONTAINER_NAME)["restartCount"] == 0
    assert _rollout_required(real_cluster, namespace) == ("False", "UpToDate")


def test_a_change_that_needs_new_pods_is_flagged_then_rolled_out(
    real_cluster: LocalControlPlane, operator_release: Helm, node_images: NodeImages
) -> None:
    namespace, pod = _start(real_cluster, node_images)
    _patch_policy(real_cluster, namespace, {"tiers": {"l1Size": "24Mi"}})
    wait_for(lambda: _rollout_required(real_cluster, namespace) == ("True", "PodsOutdated"), timeout_seconds=60,
             what="RolloutRequired True (PodsOutdated)")  # fmt: skip
    [still] = pods(real_cluster, namespace, "app=checker")
    assert still["metadata"]["uid"] == pod["metadata"]["uid"], "rollout: Manual must not replace pods"
    _patch_policy(real_cluster, namespace, {"rollout": "Automatic"})
    replaced = wait_for(
        lambda: next((p for p in pods(real_cluster, namespace, "app=checker")
                      if p["metadata"]["uid"] != pod["metadata"]["uid"]
                      and container_ready(p, "app")), None),
        timeout_seconds=240, what="a new pod from the automatic rollout",
    )  # fmt: skip
    memory = replaced["spec"]["initContainers"][0]["resources"]["limits"]["memory"]
    assert memory == "120Mi", memory  # 24 MiB of L1 plus the agent's overhead
    wait_for(lambda: _rollout_required(real_cluster, namespace) == ("False", "UpToDate"), timeout_seconds=120,
             what="RolloutRequired back to False once the old pod is gone")  # fmt: skip


def test_in_place_upgrade_restarts_only_the_agent_and_l2_stays_warm(
    real_cluster: LocalControlPlane, operator_release: Helm, node_images: NodeImages
) -> None:
    assert node_images.agent_next is not None
    namespace, pod = _start(real_cluster, node_images, upgrade="InPlace", sidecar={"image": _agent(node_images)})
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    before = container_status(pod, constants.SIDECAR_CONTAINER_NAME)
    assert before["restartCount"] == 0
    began = time.monotonic()
    _patch_policy(real_cluster, namespace, {"sidecar": {"image": node_images.agent_next.name}})

    def upgraded() -> dict[str, Any] | None:
        for current in pods(real_cluster, namespace, "app=checker"):
            agent = container_status(current, constants.SIDECAR_CONTAINER_NAME)
            if agent["image"].endswith("-next") and agent.get("ready") and agent["restartCount"] == 1:
                return current
        return None

    after = wait_for(upgraded, timeout_seconds=180, what="the agent restarted on the new image",
                     describe=lambda: [p.get("status") for p in pods(real_cluster, namespace, "app=checker")])  # fmt: skip
    upgrade_seconds = time.monotonic() - began
    assert after["metadata"]["uid"] == uid, "the pod was replaced"
    assert container_status(after, "app")["restartCount"] == 0
    agent = container_status(after, constants.SIDECAR_CONTAINER_NAME)
    assert agent["imageID"] != before["imageID"]
    assert agent["lastState"]["terminated"]["exitCode"] == 0, agent["lastState"]  # a graceful stop, not a kill
    # L2 reopened warm from its volume: entries are there before anyone wrote again, and the oldest values read back.
    text = scrape(f"http://{after['status']['podIP']}:{constants.OPS_PORT}/metrics")
    assert metric(text, "memories_cache_entries", tier="l2") > 0, "L2 came back empty"
    assert _in_app(real_cluster, namespace, name, READ_FILL) == "True"
    assert wait_for(lambda: _rollout_required(real_cluster, namespace) == ("False", "UpToDate"), timeout_seconds=60,
                    what="the policy up to date after the in-place upgrade")  # fmt: skip
    outages = [entry["seconds"] for entry in log_events(real_cluster, namespace, name) if entry["event"] == "outage"]
    assert outages, "the app never saw the agent restart"
    print(f"in-place upgrade: {upgrade_seconds:.1f} s from the patch to the agent Ready on the new image; "
          f"127.0.0.1:6380 unavailable to the app for {sum(outages):.2f} s in {len(outages)} stretch(es)")  # fmt: skip
    assert max(outages) < 30


def test_upgrade_field_is_validated(real_cluster: LocalControlPlane, operator_release: Helm) -> None:
    namespace = _namespace(real_cluster)
    policy = policy_objects(namespace)[1]
    policy["spec"]["upgrade"] = "Sometimes"
    result = real_cluster.kubectl("apply", "-f", "-", input_text=json.dumps(policy))
    assert result.returncode != 0 and "spec.upgrade" in result.stderr and "InPlace" in result.stderr, result.stderr
