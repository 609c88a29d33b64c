"""``helm install`` and ``helm upgrade`` into the real test control plane, then the examples reconciled.

There is no kubelet (nor controller-manager) here: the chart's Deployment never gets running pods. The reconciling
operator is therefore ``memories operator`` run locally by :class:`LocalOperator`, with the RBAC, CRDs and peering
object the chart installed.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from memories.controlplane import LocalControlPlane
from memories.operator.local import LocalOperator
from tests.helm.chart import CHART, REPOSITORY, Helm, sets
from tests.operator.kube_helpers import condition, get, wait_for

RELEASE = "helm-test"
NAMESPACE = "memories-helm"
#: Examples without a namespace of their own go here; the ones naming a namespace keep it.
EXAMPLES_NAMESPACE = "helm-examples"
SECRET = f"{RELEASE}-memories-optimizer-webhook-tls"
WEBHOOK_CONFIGURATION = f"{RELEASE}-memories-optimizer"


@pytest.fixture(scope="module")
def cluster_helm(
    helm_executable: Path, control_plane: LocalControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Helm:
    return Helm(helm_executable, tmp_path_factory.mktemp("helm-home"), control_plane.kubeconfig)


@pytest.fixture(scope="module")
def release(cluster_helm: Helm) -> Iterator[str]:
    """The chart installed (CRDs included) into its namespace; uninstalled afterwards."""
    installed = cluster_helm.run(
        "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace", "--timeout", "120s"
    )
    assert installed.returncode == 0, installed.stderr
    yield RELEASE
    cluster_helm.run("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")


def _secret_data(control_plane: LocalControlPlane) -> dict[str, str]:
    secret = get(control_plane, "secret", SECRET, NAMESPACE)
    assert secret is not None
    return dict(secret["data"])


def _ca_bundle(control_plane: LocalControlPlane) -> str:
    result = control_plane.kubectl("get", "mutatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "-o", "json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["webhooks"][0]["clientConfig"]["caBundle"])


def test_install_creates_crds_rbac_and_webhook(control_plane: LocalControlPlane, release: str) -> None:
    crds = control_plane.kubectl("get", "crd", "-o", "name")
    assert crds.returncode == 0, crds.stderr
    for name in ("cachepolicies", "memorypools", "compressionprofiles"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{name}.optimization.memories.dev" in crds.stdout
    assert "clusterkopfpeerings.kopf.dev" in crds.stdout
    for plural in ("cachepolicies", "memorypools", "compressionprofiles"):
        allowed = control_plane.kubectl(
            "auth", "can-i", "patch", f"{plural}.optimization.memories.dev", "--subresource=status",
            f"--as=system:serviceaccount:{NAMESPACE}:{release}-memories-optimizer",
        )  # fmt: skip
        assert allowed.stdout.strip() == "yes", (plural, allowed.stderr)
    assert _ca_bundle(control_plane) == _secret_data(control_plane)["ca.crt"]


def test_install_notes_tell_what_to_do_next(cluster_helm: Helm, release: str) -> None:
    notes = cluster_helm.run("get", "notes", release, "--namespace", NAMESPACE)
    assert notes.returncode == 0, notes.stderr
    for step in ("crds/examples/", "memories.dev/inject: enabled", "kubectl get memories", NAMESPACE):
        assert step in notes.stdout


def test_upgrade_keeps_the_webhook_certificates(
    control_plane: LocalControlPlane, cluster_helm: Helm, release: str
) -> None:
    before = _secret_data(control_plane)
    upgraded = cluster_helm.run(
        "upgrade", release, str(CHART), "--namespace", NAMESPACE, *sets("webhook.timeoutSeconds=7")
    )
    assert upgraded.returncode == 0, upgraded.stderr
    after = _secret_data(control_plane)
    assert after == before
    assert _ca_bundle(control_plane) == after["ca.crt"]
    authority = x509.load_pem_x509_certificate(base64.b64decode(after["ca.crt"]))
    x509.load_pem_x509_certificate(base64.b64decode(after["tls.crt"])).verify_directly_issued_by(authority)


def _examples() -> list[dict[str, Any]]:
    manifests = []
    for path in sorted((REPOSITORY / "crds" / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] != "Namespace":
                document["metadata"].setdefault("namespace", EXAMPLES_NAMESPACE)
            if document:
                manifests.append(document)
    return manifests


def _ready(control_plane: LocalControlPlane, name: str, namespace: str) -> bool:
    ready = condition(get(control_plane, "cachepolicy", name, namespace), "Ready")
    return bool(ready and ready["status"] == "True")


def test_examples_are_reconciled_by_the_operator_with_the_chart_installed(
    control_plane: LocalControlPlane, release: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    examples = _examples()
    namespaces = {item["metadata"]["namespace"] for item in examples if item["kind"] != "Namespace"}
    for namespace in sorted(namespaces):
        created = control_plane.kubectl("create", "namespace", namespace)
        assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr
    applied = control_plane.kubectl(
        "apply", "-f", "-", input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": examples})
    )
    assert applied.returncode == 0, applied.stderr
    policies = [
        (item["metadata"]["name"], item["metadata"]["namespace"]) for item in examples if item["kind"] == "CachePolicy"
    ]
    assert policies
    operator = LocalOperator(
        control_plane.kubeconfig,
        control_plane.kubectl,
        tmp_path_factory.mktemp("operator"),
        operator_namespace=NAMESPACE,
    )
    with operator:
        for name, namespace in policies:
            try:
                wait_for(functools.partial(_ready, control_plane, name, namespace), timeout_seconds=60)
            except AssertionError as error:
                raise AssertionError(
                    f"CachePolicy {namespace}/{name} not Ready: {error}\n{operator.log_tail()}"
                ) from None
