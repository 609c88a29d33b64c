"""``helm template``: golden renderings per value set, and the properties that matter asserted directly."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from memories.operator import constants
from memories.operator.webhook_config import WEBHOOK_NAME, WEBHOOK_PATH
from tests.helm.chart import Helm, documents, find, only, sets

GOLDEN = Path(__file__).parent / "golden"
#: Value sets rendered and compared with tests/helm/golden/<name>.yaml (MEMORIES_UPDATE_GOLDEN=1 rewrites them).
VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    "cert-manager": sets(
        "certManager.enabled=true", "monitoring.podMonitor.enabled=true", "webhook.excludedNamespaces={batch,legacy}"
    ),
    "standalone": sets(
        "peering.enabled=false",
        "replicas=1",
        "webhook.failurePolicy=Fail",
        "monitoring.dashboard.enabled=false",
        "image.tag=dev",
        "image.pullPolicy=Never",
    ),
}
#: Helm generates a new CA on every offline rendering: golden files hold a placeholder instead.
GENERATED = re.compile(r"^(\s*(?:ca\.crt|tls\.crt|tls\.key|caBundle): )\S+$", re.MULTILINE)


def _normalised(rendered: str) -> str:
    return GENERATED.sub(r"\1<generated>", rendered)


def _webhook(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    configuration = only(rendered, "MutatingWebhookConfiguration")
    [webhook] = configuration["webhooks"]
    return dict(webhook)


def _operator_container(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    [container] = only(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendering_matches_golden_file(helm: Helm, name: str) -> None:
    rendered = _normalised(helm.template(*VALUE_SETS[name]))
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("MEMORIES_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert golden.is_file(), f"{golden} missing: run with MEMORIES_UPDATE_GOLDEN=1 to create it"
    assert rendered == golden.read_text(), f"rendering differs from {golden}; MEMORIES_UPDATE_GOLDEN=1 rewrites it"


def test_webhook_matches_the_operator_handler_and_opt_in_label(helm: Helm) -> None:
    webhook = _webhook(documents(helm.template()))
    assert webhook["name"] == WEBHOOK_NAME
    assert webhook["clientConfig"]["service"]["path"] == WEBHOOK_PATH == "/inject-sidecar"
    assert webhook["clientConfig"]["service"]["port"] == 443
    assert webhook["objectSelector"] == {"matchLabels": {constants.INJECT_LABEL: constants.INJECT_ENABLED}}
    assert webhook["sideEffects"] == "None"
    assert (webhook["failurePolicy"], webhook["reinvocationPolicy"]) == ("Ignore", "IfNeeded")


def test_webhook_never_touches_protected_or_release_namespaces(helm: Helm) -> None:
    rendered = documents(helm.template(*sets("webhook.excludedNamespaces={legacy}"), namespace="platform"))
    expressions = _webhook(rendered)["namespaceSelector"]["matchExpressions"]
    by_key = {expression["key"]: expression for expression in expressions}
    excluded = by_key["kubernetes.io/metadata.name"]
    assert excluded["operator"] == "NotIn"
    assert set(excluded["values"]) == {*constants.PROTECTED_NAMESPACES, "platform", "legacy"}
    assert by_key[constants.NAMESPACE_OPT_OUT_LABEL] == {
        "key": constants.NAMESPACE_OPT_OUT_LABEL,
        "operator": "NotIn",
        "values": ["disabled"],
    }


def test_webhook_policies_and_timeout_come_from_values(helm: Helm) -> None:
    rendered = documents(
        helm.template(
            *sets("webhook.failurePolicy=Fail", "webhook.reinvocationPolicy=Never", "webhook.timeoutSeconds=12")
        )
    )
    webhook = _webhook(rendered)
    assert (webhook["failurePolicy"], webhook["reinvocationPolicy"], webhook["timeoutSeconds"]) == ("Fail", "Never", 12)


def test_generated_ca_bundle_signs_the_serving_certificate_for_the_service(helm: Helm) -> None:
    rendered = documents(helm.template(release="demo", namespace="platform"))
    secret = only(rendered, "Secret")
    ca_bundle = base64.b64decode(_webhook(rendered)["clientConfig"]["caBundle"])
    assert ca_bundle == base64.b64decode(secret["data"]["ca.crt"])
    authority = x509.load_pem_x509_certificate(ca_bundle)
    serving = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    serving.verify_directly_issued_by(authority)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert "demo-memories-optimizer-webhook.platform.svc" in names


def test_cert_manager_replaces_the_generated_secret_with_an_injected_ca(helm: Helm) -> None:
    rendered = documents(helm.template(*sets("certManager.enabled=true")))
    assert find(rendered, "Secret") == []
    configuration = only(rendered, "MutatingWebhookConfiguration")
    serving = [c for c in find(rendered, "Certificate") if not c["spec"].get("isCA")]
    assert len(serving) == 1
    assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"memories-system/{serving[0]['metadata']['name']}"
    )
    assert "caBundle" not in configuration["webhooks"][0]["clientConfig"]
    volumes = only(rendered, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"secretName": serving[0]["spec"]["secretName"]} in [volume.get("secret") for volume in volumes]


def test_operator_runs_restricted(helm: Helm) -> None:
    rendered = documents(helm.template())
    pod_spec = only(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = _operator_container(rendered)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_operator_probes_use_the_kopf_liveness_endpoint(helm: Helm) -> None:
    container = _operator_container(documents(helm.template(*sets("probes.healthPort=8181"))))
    assert "--liveness=http://0.0.0.0:8181/healthz" in container["args"]
    assert {"name": "health", "containerPort": 8181, "protocol": "TCP"} in container["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_operator_learns_its_namespace_from_the_downward_api(helm: Helm) -> None:
    container = _operator_container(documents(helm.template()))
    environment = {variable["name"]: variable for variable in container["env"]}
    assert environment["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert "--namespace=$(POD_NAMESPACE)" in container["args"]


def test_service_maps_443_to_the_webhook_port(helm: Helm) -> None:
    rendered = documents(helm.template(*sets("webhook.port=10443")))
    [port] = only(rendered, "Service")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (443, "webhook")
    container = _operator_container(rendered)
    assert {"name": "webhook", "containerPort": 10443, "protocol": "TCP"} in container["ports"]
    assert "--webhook-port=10443" in container["args"]


@pytest.mark.parametrize(("replicas", "peering"), [(1, True), (3, True), (1, False)])
def test_peering_is_used_unless_disabled(helm: Helm, replicas: int, peering: bool) -> None:
    rendered = documents(helm.template(*sets(f"replicas={replicas}", f"peering.enabled={str(peering).lower()}")))
    assert only(rendered, "Deployment")["spec"]["replicas"] == replicas
    assert ("--standalone" in _operator_container(rendered)["args"]) is not peering
    assert len(find(rendered, "ClusterKopfPeering")) == int(peering)


@pytest.mark.parametrize(("replicas", "expected"), [(1, 0), (2, 1)])
def test_disruption_budget_only_with_several_replicas(helm: Helm, replicas: int, expected: int) -> None:
    assert len(find(documents(helm.template(*sets(f"replicas={replicas}"))), "PodDisruptionBudget")) == expected


def test_pod_monitor_scrapes_the_agent_metrics_port_of_injected_pods(helm: Helm) -> None:
    monitor = only(documents(helm.template(*sets("monitoring.podMonitor.enabled=true"))), "PodMonitor")
    assert monitor["spec"]["selector"] == {"matchLabels": {constants.INJECT_LABEL: constants.INJECT_ENABLED}}
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_dashboard_config_map_covers_the_agent_metrics(helm: Helm) -> None:
    dashboard = only(documents(helm.template()), "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    text = dashboard["data"]["memories-optimizer.json"]
    for metric in (
        "memories_cache_hits_total",
        "memories_cache_misses_total",
        "memories_cache_bytes",
        "memories_compression_input_bytes_total",
        "memories_dedup_logical_bytes",
        "memories_sidecar_http_request_duration_seconds_bucket",
    ):
        assert metric in text
    assert json.loads(text)["panels"]


def test_sidecar_image_defaults_to_the_operator_image(helm: Helm) -> None:
    default = _operator_container(documents(helm.template(*sets("image.tag=1.2.3"))))
    assert default["image"].endswith(":1.2.3")
    assert f"--image={default['image']}" in default["args"]
    custom = _operator_container(documents(helm.template(*sets("sidecarImage=registry.example/agent:9"))))
    assert "--image=registry.example/agent:9" in custom["args"]
