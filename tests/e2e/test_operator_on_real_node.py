"""The product on a real node, installed as users install it: the chart, the operator pod, injected pods that run.

Everything here runs in containers started by the kubelet: the operator (a pod of the image built from the
Dockerfile), its webhook (reached by the API server at its Service's endpoint), the injected agent (a native
sidecar) and the app (``memories agent-check`` from the same image) talking to it over loopback in the pod.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from memories.controlplane import LocalControlPlane
from memories.controlplane.node.images import NodeImages
from memories.operator import constants
from tests.e2e.conftest import OPERATOR_NAMESPACE
from tests.e2e.realnode_workloads import (
    app_container,
    container_ready,
    container_status,
    deployment,
    event,
    log_events,
    metric,
    pod_volume_dir,
    pods,
    policy_objects,
    ready_pod,
    scrape,
    wait_for_event,
)
from tests.helm.chart import Helm
from tests.operator.kube_helpers import apply, condition, get, wait_for

pytestmark = pytest.mark.realnode
REPOSITORY = Path(__file__).resolve().parents[2]


def _namespace(cluster: LocalControlPlane) -> str:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def _project_image(images: NodeImages) -> str:
    assert images.project is not None
    return images.project.name


def _policy_ready(cluster: LocalControlPlane, namespace: str) -> dict[str, Any]:
    return wait_for(
        lambda: (body if (c := condition(body := get(cluster, "cachepolicy", "checker", namespace), "Ready"))
                 and c["status"] == "True" else None),
        timeout_seconds=60, what="CachePolicy checker Ready",
    )  # fmt: skip


@pytest.fixture(scope="module")
def shop(real_cluster: LocalControlPlane, operator_release: Helm, node_images: NodeImages) -> dict[str, Any]:
    """A namespace with the test policy and one opted-in Deployment whose pod is Ready."""
    namespace = _namespace(real_cluster)
    apply(real_cluster, *policy_objects(namespace))
    _policy_ready(real_cluster, namespace)
    began = time.monotonic()
    apply(real_cluster, deployment(namespace, _project_image(node_images)))
    pod = ready_pod(real_cluster, namespace, "app=checker")
    return {"namespace": namespace, "pod": pod, "apply_to_ready_seconds": time.monotonic() - began}


def test_operator_runs_as_a_pod_and_its_webhook_is_reached_through_its_service(
    real_cluster: LocalControlPlane, operator_release: Helm
) -> None:
    [operator] = pods(real_cluster, OPERATOR_NAMESPACE, "app.kubernetes.io/name=memories-optimizer")
    assert container_status(operator, "operator")["ready"] is True
    configurations = json.loads(real_cluster.kubectl("get", "mutatingwebhookconfigurations", "-o", "json").stdout)
    [webhook] = [hook for item in configurations["items"] for hook in item["webhooks"]]
    assert "service" in webhook["clientConfig"] and "url" not in webhook["clientConfig"]
    # The operator's own API calls go to the kubernetes Service's ClusterIP with its service-account token.
    logs = real_cluster.kubectl("logs", operator["metadata"]["name"], "-n", OPERATOR_NAMESPACE).stdout
    assert "Forbidden" not in logs and "Unauthorized" not in logs, logs[-3000:]


def test_examples_are_applied_and_reconciled(real_cluster: LocalControlPlane, operator_release: Helm) -> None:
    namespace = _namespace(real_cluster)
    for example in sorted((REPOSITORY / "crds" / "examples").glob("*.yaml")):
        if example.name != "demo.yaml":
            applied = real_cluster.kubectl("apply", "-n", namespace, "-f", str(example))
            assert applied.returncode == 0, applied.stderr
    policy = wait_for(
        lambda: (body if (c := condition(body := get(real_cluster, "cachepolicy", "inference", namespace), "Ready"))
                 and c["status"] == "True" else None),
        timeout_seconds=60, what="the example CachePolicy Ready",
    )  # fmt: skip
    assert policy["status"]["configMap"] == constants.config_map_name("inference")


def test_agent_is_a_native_sidecar_ready_before_the_app_starts(shop: dict[str, Any]) -> None:
    pod = shop["pod"]
    [agent] = pod["spec"]["initContainers"]
    assert (agent["name"], agent["restartPolicy"]) == (constants.SIDECAR_CONTAINER_NAME, "Always")
    agent_status, app_status = container_status(pod, agent["name"]), container_status(pod, "app")
    assert agent_status["started"] and agent_status["ready"] and app_status["ready"]
    assert agent_status["state"]["running"]["startedAt"] <= app_status["state"]["running"]["startedAt"]


def test_app_reaches_the_agent_over_resp_and_http_and_shares_the_arena(
    real_cluster: LocalControlPlane, shop: dict[str, Any]
) -> None:
    namespace, name = shop["namespace"], shop["pod"]["metadata"]["name"]
    checks = wait_for_event(real_cluster, namespace, name, "checks")
    events = log_events(real_cluster, namespace, name)
    # The kubelet started the app only once the agent's startup probe passed: no retry was needed.
    assert event(events, "first-contact") == {**event(events, "first-contact"), "resp": True, "http": True}  # type: ignore[dict-item]
    assert checks["passed"], events
    arena = event(events, "arena")
    assert arena is not None and arena["ok"] and arena["sha256"] == arena["agent_sha256"]
    assert arena["path"].startswith(constants.SHM_MOUNT_PATH)


def test_l2_lives_on_its_volume_and_metrics_are_scraped_from_the_pod_ip(
    real_cluster: LocalControlPlane, shop: dict[str, Any]
) -> None:
    namespace, pod = shop["namespace"], shop["pod"]
    fill = wait_for_event(real_cluster, namespace, pod["metadata"]["name"], "fill")
    assert fill["ok"] and fill["bytes"] >= 32 * 2**20, fill
    volume = pod_volume_dir(real_cluster, pod, constants.L2_VOLUME)
    on_disk = sum(path.stat().st_size for path in volume.rglob("*") if path.is_file())
    assert on_disk >= 16 * 2**20, f"L2 holds {on_disk} bytes in {volume}"  # what L1 (16 MiB) could not keep
    text = scrape(f"http://{pod['status']['podIP']}:{constants.OPS_PORT}/metrics")
    assert metric(text, "memories_cache_hits_total") > 0
    assert metric(text, "memories_cache_bytes", tier="l2") > 0


def test_shipped_security_context_runs(real_cluster: LocalControlPlane, shop: dict[str, Any]) -> None:
    pod = shop["pod"]
    [agent] = pod["spec"]["initContainers"]
    context = agent["securityContext"]
    assert (
        context["runAsNonRoot"] and context["readOnlyRootFilesystem"] and context["capabilities"] == {"drop": ["ALL"]}
    )
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    probe = real_cluster.kubectl(
        "exec", pod["metadata"]["name"], "-n", shop["namespace"], "-c", constants.SIDECAR_CONTAINER_NAME, "--",
        "python", "-c",
        "import os; print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0]);"
        "open('/probe', 'w')",
    )  # fmt: skip
    uid, capabilities = probe.stdout.split()[:2]
    assert (uid, int(capabilities, 16)) == ("65532", 0)
    assert "Read-only file system" in probe.stderr


def test_job_with_an_injected_agent_completes(
    real_cluster: LocalControlPlane, shop: dict[str, Any], node_images: NodeImages
) -> None:
    namespace = shop["namespace"]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "one-shot", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": "checker", constants.INJECT_LABEL: constants.INJECT_ENABLED}},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"fsGroup": 65532},
                    "containers": [app_container(_project_image(node_images), "--arena")],
                },
            },
        },
    }
    apply(real_cluster, job)
    done = wait_for(
        lambda: (body if (body := get(real_cluster, "job", "one-shot", namespace) or {}).get("status", {}).get("succeeded")
                 else None),
        timeout_seconds=120, what="the Job to succeed (the sidecar must not hold it open)",
        describe=lambda: pods(real_cluster, namespace, "job-name=one-shot"),
    )  # fmt: skip
    assert done["status"]["succeeded"] == 1
    [pod] = pods(real_cluster, namespace, "job-name=one-shot")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["spec"]["initContainers"][0]["name"] == constants.SIDECAR_CONTAINER_NAME


def _watch_pod(
    cluster: LocalControlPlane, namespace: str, name: str, seen: list[dict[str, Any]], events: list[str]
) -> tuple[subprocess.Popen[str], threading.Thread]:
    """kubectl get -w in the background, every version of the pod appended to ``seen`` and its event type (ADDED,
    MODIFIED, DELETED) to ``events``; returns the process and the thread reading it."""
    command = [str(cluster.binaries.kubectl), "--kubeconfig", str(cluster.kubeconfig), "get", "pod", name, "-n",
               namespace, "-w", "--output-watch-events", "-o", "json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def read() -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert process.stdout is not None
        for line in process.stdout:
            buffer += line
            try:
                document = decoder.raw_decode(buffer.strip())[0]
            except ValueError:
                continue
            seen.append(document["object"])
            events.append(document.get("type", ""))
            buffer = ""

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return process, reader


def _status_or_none(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A container's status in one watched version of a pod (a version during deletion may lack it)."""
    try:
        return container_status(pod, name)
    except AssertionError:
        return None


def test_deleted_pod_stops_within_its_grace_period_and_the_agent_outlives_the_app(
    real_cluster: LocalControlPlane, shop: dict[str, Any], node_images: NodeImages
) -> None:
    namespace = shop["namespace"]
    apply(real_cluster, deployment(namespace, _project_image(node_images), name="doomed"))
    pod = wait_for(lambda: next(iter(p for p in pods(real_cluster, namespace, "app=checker")
                                     if p["metadata"]["name"].startswith("doomed")
                                     and container_ready(p, "app")), None),
                   timeout_seconds=180, what="the doomed pod Ready")  # fmt: skip
    name = pod["metadata"]["name"]
    wait_for_event(real_cluster, namespace, name, "checks")
    seen: list[dict[str, Any]] = []
    events: list[str] = []
    watcher, reader = _watch_pod(real_cluster, namespace, name, seen, events)
    try:
        # The watch must be under way before the deletion starts (CI once saw no version at all)...
        wait_for(lambda: events or None, timeout_seconds=30, what="the pod watch to show the pod")
        real_cluster.kubectl("scale", "deployment", "doomed", "-n", namespace, "--replicas=0")
        began = time.monotonic()
        deleted = real_cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=true", timeout_seconds=90)
        seconds = time.monotonic() - began
        # ... and have delivered the last versions, the terminated states among them, before it is stopped.
        wait_for(lambda: "DELETED" in events or None, timeout_seconds=30, what="the pod watch to show the deletion")
    finally:
        watcher.terminate()
        reader.join(10)
    assert deleted.returncode == 0, deleted.stderr
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    assert seconds < grace, f"deletion took {seconds:.1f} s, the grace period is {grace} s"
    final = [status for version in seen if (status := _status_or_none(version, constants.SIDECAR_CONTAINER_NAME))]
    terminated = [status["state"]["terminated"] for status in final if "terminated" in status.get("state", {})]
    assert terminated, f"the agent's termination was not observed: {final[-1:]}"
    assert terminated[-1]["exitCode"] == 0, terminated[-1]  # stopped by its own shutdown, not SIGKILLed
    app_final = [status for version in seen if (status := _status_or_none(version, "app"))]
    app_terminated = [s["state"]["terminated"] for s in app_final if "terminated" in s.get("state", {})]
    # Native sidecars stop after the app: the app exited first, and cleanly.
    assert app_terminated and app_terminated[-1]["finishedAt"] <= terminated[-1]["finishedAt"]
    assert app_terminated[-1]["exitCode"] == 0, app_terminated[-1]


def test_operator_scaled_to_zero_then_back_repairs_missed_pods(
    real_cluster: LocalControlPlane, operator_release: Helm, node_images: NodeImages
) -> None:
    namespace = _namespace(real_cluster)
    apply(real_cluster, *policy_objects(namespace, rollout="Automatic"))
    _policy_ready(real_cluster, namespace)
    operator = operator_deployment(real_cluster)

    def scale(replicas: int) -> subprocess.CompletedProcess[str]:
        return real_cluster.kubectl("scale", "deployment", operator, "-n", OPERATOR_NAMESPACE, f"--replicas={replicas}")

    assert scale(0).returncode == 0
    wait_for(lambda: not pods(real_cluster, OPERATOR_NAMESPACE, "app.kubernetes.io/name=memories-optimizer"),
             timeout_seconds=60, what="the operator pod gone")  # fmt: skip
    try:
        apply(real_cluster, deployment(namespace, _project_image(node_images)))
        missed = ready_pod(real_cluster, namespace, "app=checker")
        assert not missed["spec"].get("initContainers"), "injected although the webhook was down"
        # failurePolicy Ignore: the pod started without the agent; the app found nothing on the agent's ports.
        first = wait_for_event(real_cluster, namespace, missed["metadata"]["name"], "first-contact")
        assert first["resp"] is False
    finally:
        assert scale(1).returncode == 0
    wait_for(
        lambda: (c if (c := condition(get(real_cluster, "cachepolicy", "checker", namespace), "Degraded"))
                 and c["reason"] == "InjectionMissed" else None) or _repaired(real_cluster, namespace),
        timeout_seconds=120, what="InjectionMissed reported (or already repaired)",
    )  # fmt: skip
    repaired = wait_for(lambda: _repaired(real_cluster, namespace), timeout_seconds=240,
                        what="rollout Automatic to replace the pod with an injected one",
                        describe=lambda: pods(real_cluster, namespace, "app=checker"))  # fmt: skip
    assert container_status(repaired, "app")["ready"]
    degraded = wait_for(
        lambda: (c if (c := condition(get(real_cluster, "cachepolicy", "checker", namespace), "Degraded"))
                 and c["status"] == "False" else None),
        timeout_seconds=60, what="Degraded back to False",
    )  # fmt: skip
    assert degraded["reason"] == "AsExpected"


def operator_deployment(cluster: LocalControlPlane) -> str:
    """The operator Deployment's name (the chart's full name)."""
    result = cluster.kubectl(
        "get", "deployment", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/name=memories-optimizer",
        "-o", "jsonpath={.items[0].metadata.name}",
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout, result.stderr
    return result.stdout


def _repaired(cluster: LocalControlPlane, namespace: str) -> dict[str, Any] | None:
    for pod in pods(cluster, namespace, "app=checker"):
        injected = any(c["name"] == constants.SIDECAR_CONTAINER_NAME for c in pod["spec"].get("initContainers", []))
        conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions", [])}
        if injected and conditions.get("Ready") == "True":
            return pod
    return None
