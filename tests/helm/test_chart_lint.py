"""``helm lint`` and the values schema: good values pass, bad values fail at install with the schema's message."""

from __future__ import annotations

import pytest

from tests.helm.chart import CHART, KUBE_VERSION, Helm, sets


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_helm_lint_passes(helm: Helm, strict: bool) -> None:
    result = helm.run("lint", str(CHART), "--kube-version", KUBE_VERSION, *(["--strict"] if strict else []))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("replicas=-1", "/replicas"),
        ("replicas=0", "/replicas"),
        ("webhook.failurePolicy=Sometimes", "/webhook/failurePolicy"),
        ("webhook.reinvocationPolicy=Always", "/webhook/reinvocationPolicy"),
        ("webhook.timeoutSeconds=31", "/webhook/timeoutSeconds"),
        ("webhook.port=443", "/webhook/port"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("webhook.excludedNamespaces[0]=Not_A_Name", "/webhook/excludedNamespaces/0"),
        ("resources.limits.memory=lots", "/resources/limits/memory"),
        ("replicass=2", "additional properties 'replicass' not allowed"),
    ],
)
def test_bad_value_fails_with_the_schema_message(helm: Helm, setting: str, message: str) -> None:
    result = helm.render(*sets(setting))
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr


def test_standalone_mode_refuses_more_than_one_replica(helm: Helm) -> None:
    result = helm.render(*sets("peering.enabled=false", "replicas=2"))
    assert result.returncode != 0
    assert "/replicas" in result.stderr


def test_install_refuses_kubernetes_older_than_1_29(helm: Helm) -> None:
    result = helm.render(kube_version="1.28.9")
    assert result.returncode != 0
    assert ">=1.29.0-0" in result.stderr
