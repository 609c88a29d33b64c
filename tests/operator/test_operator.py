"""The operator against the real kube-apiserver: reconciliation, status, injection, cleanup, restarts."""

from __future__ import annotations

import itertools
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.controlplane import LocalControlPlane
from memories.operator import constants
from memories.operator.local import LocalOperator
from memories.operator.webhook_config import mutating_webhook_configuration
from tests.operator.kube_helpers import apply, condition, get, namespace, pod, wait_for

OPTED_IN = {constants.INJECT_LABEL: constants.INJECT_ENABLED, "app": "web"}
_namespace_numbers = itertools.count()


def custom(kind: str, name: str, namespace_name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": constants.API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": namespace_name},
            "spec": spec}  # fmt: skip


def policy(namespace_name: str, name: str = "web", **extra: Any) -> dict[str, Any]:
    spec = {"selector": {"matchLabels": {"app": "web"}}, "tiers": {"l1Size": "64Mi", "l2Size": "256Mi"}, **extra}
    return custom("CachePolicy", name, namespace_name, spec)


@pytest.fixture(scope="module")
def operator(
    control_plane: LocalControlPlane, installed_crds: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalOperator]:
    with LocalOperator(control_plane.kubeconfig, control_plane.kubectl, tmp_path_factory.mktemp("operator")) as running:
        yield running
    print(running.log_tail(80))


@pytest.fixture
def workspace(control_plane: LocalControlPlane) -> str:
    name = f"team-{next(_namespace_numbers)}"
    apply(control_plane, namespace(name))
    return name


def ready(control_plane: LocalControlPlane, name: str, namespace_name: str) -> dict[str, Any] | None:
    body = get(control_plane, "cachepolicy", name, namespace_name)
    ready_condition = condition(body, "Ready")
    return body if ready_condition and ready_condition["status"] == "True" else None


def test_policy_renders_its_config_map_and_becomes_ready(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, custom("CompressionProfile", "fast", workspace, {"algorithm": "zstd", "level": 3}))
    apply(control_plane, policy(workspace, compressionProfileRef={"name": "fast"}))
    body = wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
    config_map = get(control_plane, "configmap", "memories-web-config", workspace)
    assert config_map is not None
    config = yaml.safe_load(config_map["data"][constants.CONFIG_FILE_NAME])
    assert config["cache"]["l1Size"] == 64 * 1024**2
    assert config["compression"]["algorithm"] == "zstd"
    assert config_map["metadata"]["ownerReferences"][0]["name"] == "web"


def test_pod_of_a_selected_namespace_comes_back_with_the_agent(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, custom("MemoryPool", "arena", workspace, {"blockSizes": [4096, 65536], "totalSize": "128Mi"}))
    apply(control_plane, policy(workspace, memoryPoolRef={"name": "arena"}))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    apply(control_plane, pod("web-1", workspace, OPTED_IN))
    created = get(control_plane, "pod", "web-1", workspace)
    assert created is not None
    agents = [c for c in created["spec"].get("initContainers", []) if c["name"] == constants.SIDECAR_CONTAINER_NAME]
    assert len(agents) == 1
    assert agents[0]["restartPolicy"] == "Always"
    assert agents[0]["resources"]["limits"]["memory"] == "160Mi"  # 64 MiB L1 + 96 MiB agent overhead
    volumes = {volume["name"]: volume for volume in created["spec"]["volumes"]}
    assert volumes[constants.SHM_VOLUME]["emptyDir"] == {"medium": "Memory", "sizeLimit": "128Mi"}
    assert volumes[constants.CONFIG_VOLUME]["configMap"]["name"] == "memories-web-config"
    assert created["metadata"]["annotations"]["prometheus.io/port"] == str(constants.OPS_PORT)


def test_opted_out_namespace_and_non_matching_pods_are_left_alone(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, namespace("opted-out", {constants.NAMESPACE_OPT_OUT_LABEL: "disabled"}))
    apply(control_plane, policy("opted-out"), policy(workspace))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    wait_for(lambda: ready(control_plane, "web", "opted-out"), what="CachePolicy Ready")
    apply(
        control_plane,
        pod("web-out", "opted-out", OPTED_IN),
        pod("db-1", workspace, {constants.INJECT_LABEL: constants.INJECT_ENABLED, "app": "db"}),
        pod("web-no-label", workspace, {"app": "web"}),
        pod("web-host", workspace, OPTED_IN, hostNetwork=True),
    )
    for name, namespace_name in (("web-out", "opted-out"), ("db-1", workspace), ("web-no-label", workspace),
                                 ("web-host", workspace)):  # fmt: skip
        body = get(control_plane, "pod", name, namespace_name)
        assert body is not None
        assert "initContainers" not in body["spec"], name
        assert constants.INJECTED_ANNOTATION not in (body["metadata"].get("annotations") or {}), name


def test_reinvocation_does_not_inject_twice(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    second = mutating_webhook_configuration(
        ca_bundle_pem=operator.certificate_authority.certificate_pem,
        operator_namespace=operator.operator_namespace,
        url=f"https://127.0.0.1:{operator.webhook_port}",
    )
    second["metadata"]["name"] = "memories-optimizer-second"
    second["webhooks"][0]["name"] = "again.memories.dev"
    apply(control_plane, second)
    try:
        apply(control_plane, policy(workspace))
        wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
        apply(control_plane, pod("web-twice", workspace, OPTED_IN))
        body = get(control_plane, "pod", "web-twice", workspace)
        assert body is not None
        names = [c["name"] for c in body["spec"].get("initContainers", []) + body["spec"]["containers"]]
        assert names.count(constants.SIDECAR_CONTAINER_NAME) == 1
        assert [v["name"] for v in body["spec"]["volumes"]].count(constants.CONFIG_VOLUME) == 1
    finally:
        control_plane.kubectl("delete", "mutatingwebhookconfiguration", "memories-optimizer-second")


def test_status_counts_matched_and_injected_pods(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, policy(workspace))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    apply(control_plane, pod("web-a", workspace, OPTED_IN), pod("web-b", workspace, OPTED_IN))

    def counted() -> dict[str, Any] | None:
        body = get(control_plane, "cachepolicy", "web", workspace)
        status = (body or {}).get("status") or {}
        return status if status.get("injectedPods") == 2 and status.get("matchedPods") == 2 else None

    wait_for(counted, what="status.injectedPods == 2")
    printed = control_plane.kubectl("get", "cachepolicies", "-n", workspace)
    assert printed.returncode == 0 and "web" in printed.stdout


def test_missing_reference_is_reported_and_recovers(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, policy(workspace, memoryPoolRef={"name": "later"}))

    def not_found() -> dict[str, Any] | None:
        found = condition(get(control_plane, "cachepolicy", "web", workspace), "Ready")
        return found if found and found["reason"] == "MemoryPoolNotFound" else None

    missing = wait_for(not_found, what="Ready=False MemoryPoolNotFound")
    assert missing["status"] == "False"
    assert "'later' does not exist" in missing["message"]
    events = control_plane.kubectl("get", "events", "-n", workspace, "-o", "json")
    assert "MemoryPoolNotFound" in events.stdout
    apply(control_plane, custom("MemoryPool", "later", workspace, {"blockSizes": [4096], "totalSize": "16Mi"}))
    wait_for(lambda: ready(control_plane, "web", workspace), what="recovery to Ready=True")


def test_deleting_a_policy_removes_its_config_map(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, policy(workspace))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    assert get(control_plane, "configmap", "memories-web-config", workspace) is not None
    deleted = control_plane.kubectl("delete", "cachepolicy", "web", "-n", workspace, "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr
    assert get(control_plane, "cachepolicy", "web", workspace) is None
    wait_for(lambda: get(control_plane, "configmap", "memories-web-config", workspace) is None, what="ConfigMap gone")


def test_restarted_operator_converges_and_reports_missed_pods(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str, tmp_path: Path
) -> None:
    apply(control_plane, policy(workspace))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    operator.stop()  # failurePolicy Ignore: pod creation goes on while the operator is down
    try:
        apply(control_plane, policy(workspace, tiers={"l1Size": "32Mi"}))
        apply(control_plane, pod("web-missed", workspace, OPTED_IN))
        missed = get(control_plane, "pod", "web-missed", workspace)
        assert missed is not None and "initContainers" not in missed["spec"]
    finally:
        operator.start()

    def converged() -> dict[str, Any] | None:
        body = get(control_plane, "cachepolicy", "web", workspace)
        degraded = condition(body, "Degraded")
        status = (body or {}).get("status") or {}
        if body is None or status.get("observedGeneration") != body["metadata"]["generation"]:
            return None
        return body if degraded and degraded["reason"] == "InjectionMissed" and status.get("missedPods") == 1 else None

    wait_for(
        converged,
        what="status after restart",
        timeout_seconds=45,
        describe=lambda: get(control_plane, "cachepolicy", "web", workspace),
    )
    config_map = get(control_plane, "configmap", "memories-web-config", workspace)
    assert config_map is not None
    assert yaml.safe_load(config_map["data"][constants.CONFIG_FILE_NAME])["cache"]["l1Size"] == 32 * 1024**2


def test_profiles_and_pools_report_their_users_and_validity(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    apply(control_plane, custom("MemoryPool", "arena", workspace, {"blockSizes": [4096], "totalSize": "16Mi"}))
    apply(control_plane, policy(workspace, memoryPoolRef={"name": "arena"}))

    def counted() -> dict[str, Any] | None:
        body = get(control_plane, "memorypool", "arena", workspace)
        ready = condition(body, "Ready")
        return body if ready and ready["status"] == "True" and body["status"].get("policies") == 1 else None  # type: ignore[index]

    wait_for(counted, what="MemoryPool status.policies == 1",
             describe=lambda: get(control_plane, "memorypool", "arena", workspace))  # fmt: skip


def test_automatic_rollout_replaces_pods_that_missed_injection(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": workspace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": OPTED_IN},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
        },
    }
    apply(control_plane, deployment)  # no policy yet: its pods are created without the agent

    def pods_with_agent() -> int:
        listed = control_plane.kubectl("get", "pods", "-n", workspace, "-l", "app=web", "-o", "json")
        items = json.loads(listed.stdout)["items"] if listed.returncode == 0 else []
        return sum(constants.INJECTED_ANNOTATION in (item["metadata"].get("annotations") or {}) for item in items)

    wait_for(lambda: get(control_plane, "deployment", "web", workspace), what="the Deployment")
    apply(control_plane, policy(workspace, rollout="Automatic"))

    def converged() -> dict[str, Any] | None:
        status = ((get(control_plane, "cachepolicy", "web", workspace) or {}).get("status")) or {}
        done = status.get("injectedPods") == 2 and status.get("missedPods") == 0 and pods_with_agent() == 2
        return status if done else None

    wait_for(converged, what="a rollout that injects both replicas", timeout_seconds=90,
             describe=lambda: (get(control_plane, "cachepolicy", "web", workspace) or {}).get("status"))  # fmt: skip
    template = get(control_plane, "deployment", "web", workspace)
    assert template is not None
    assert "memories.dev/restarted-at" in template["spec"]["template"]["metadata"]["annotations"]


def served_certificate(operator: LocalOperator) -> bytes:
    """The DER certificate the webhook presents right now."""
    context = ssl.create_default_context(cadata=operator.certificate_authority.certificate_pem.decode())
    with (
        socket.create_connection(("127.0.0.1", operator.webhook_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def test_rotated_webhook_certificate_is_served_without_a_restart(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str
) -> None:
    before = served_certificate(operator)
    cert_file, _ = operator.rotate_certificate()
    rotated = ssl.PEM_cert_to_DER_cert(cert_file.read_text())

    def serving_rotated() -> bool:
        try:
            return served_certificate(operator) == rotated
        except OSError:  # the listener restarts with the new pair: a connection may be refused meanwhile
            return False

    wait_for(serving_rotated, what="the rotated certificate to be served", timeout_seconds=30)
    assert rotated != before
    apply(control_plane, policy(workspace))
    wait_for(lambda: ready(control_plane, "web", workspace), what="CachePolicy Ready")
    apply(control_plane, pod("web-after-rotation", workspace, OPTED_IN))
    created = get(control_plane, "pod", "web-after-rotation", workspace)
    assert created is not None
    assert created["spec"]["initContainers"][0]["name"] == constants.SIDECAR_CONTAINER_NAME


def test_l3_reachability_is_a_condition_that_follows_the_secret(
    control_plane: LocalControlPlane, operator: LocalOperator, workspace: str, redis_url: str
) -> None:
    def secret(url: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis", "namespace": workspace},
                "stringData": {"url": url}}  # fmt: skip

    apply(control_plane, secret(redis_url))
    apply(
        control_plane,
        policy(workspace, tiers={"l1Size": "64Mi", "l3": {"secretRef": {"name": "redis"}, "timeout": "300ms"}}),
    )

    def l3(status: str) -> dict[str, Any] | None:
        found = condition(get(control_plane, "cachepolicy", "web", workspace), "L3Reachable")
        return found if found and found["status"] == status else None

    reachable = wait_for(lambda: l3("True"), what="L3Reachable=True")
    assert reachable["reason"] == "Reachable"
    apply(control_plane, secret("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    unreachable = wait_for(lambda: l3("False"), what="L3Reachable=False")
    assert unreachable["reason"] == "Unreachable" and "cannot connect" in unreachable["message"]
    ready_condition = condition(get(control_plane, "cachepolicy", "web", workspace), "Ready")
    assert ready_condition is not None and ready_condition["status"] == "True"
