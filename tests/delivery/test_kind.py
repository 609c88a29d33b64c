"""The kind path (`make kind`): shell scripts pass shellcheck, the kind config and demo workload are valid."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
#: Shell scripts only (by shebang): scripts/generate is Python and is covered by ruff instead.
SCRIPTS = sorted(
    path
    for path in (REPOSITORY / "scripts").iterdir()
    if path.is_file() and path.read_text(encoding="utf-8").split("\n", 1)[0] in {"#!/usr/bin/env bash", "#!/bin/sh"}
)
KIND = REPOSITORY / "deploy" / "kind"


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.name for path in SCRIPTS])
def test_script_passes_shellcheck(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout


def test_kind_config_is_a_v1alpha4_cluster() -> None:
    config = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert (config["apiVersion"], config["kind"]) == ("kind.x-k8s.io/v1alpha4", "Cluster")
    assert {node["role"] for node in config["nodes"]} <= {"control-plane", "worker"}
    assert any(node["role"] == "control-plane" for node in config["nodes"])


def test_kind_nodes_run_kubernetes_1_29_or_newer() -> None:
    config = yaml.safe_load((KIND / "cluster.yaml").read_text())
    for node in config["nodes"]:
        match = re.fullmatch(r"kindest/node:v(\d+)\.(\d+)\.(\d+)(@sha256:[0-9a-f]{64})?", node["image"])
        assert match, f"unpinned node image {node['image']}"
        assert (int(match[1]), int(match[2])) >= (1, 29)


def test_kind_up_uses_the_repository_config_and_chart() -> None:
    script = (REPOSITORY / "scripts" / "kind-up").read_text()
    assert "deploy/kind/cluster.yaml" in script
    assert "helm/memories-optimizer" in script
    assert "kind load docker-image" in script


def test_demo_workload_opts_in_and_matches_an_example_policy() -> None:
    workload = yaml.safe_load((KIND / "demo-workload.yaml").read_text())
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert labels["memories.dev/inject"] == "enabled"
    selectors = [
        document["spec"]["selector"]["matchLabels"]
        for path in (REPOSITORY / "crds" / "examples").glob("*.yaml")
        for document in yaml.safe_load_all(path.read_text())
        if document and document["kind"] == "CachePolicy"
    ]
    assert any(selector.items() <= labels.items() for selector in selectors), "no example CachePolicy selects the demo"
