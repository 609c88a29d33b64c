"""The local control plane answers as a real cluster does."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from memories.controlplane import LocalControlPlane
from memories.controlplane.binaries import kubernetes_version

pytestmark = pytest.mark.controlplane


def test_kubectl_reports_the_built_server_version(control_plane: LocalControlPlane) -> None:
    result = control_plane.kubectl("version", "-o", "json")
    assert result.returncode == 0, result.stderr
    versions = json.loads(result.stdout)
    assert versions["serverVersion"]["gitVersion"] == kubernetes_version()
    assert versions["clientVersion"]["gitVersion"] == kubernetes_version()


def test_namespace_and_configmap_round_trip(control_plane: LocalControlPlane) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    assert control_plane.kubectl("create", "namespace", namespace).returncode == 0
    created = control_plane.kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal=answer=42")
    assert created.returncode == 0, created.stderr
    fetched = control_plane.kubectl("get", "configmap", "settings", "-n", namespace, "-o", "jsonpath={.data.answer}")
    assert fetched.stdout == "42"


def test_admin_is_a_cluster_admin(control_plane: LocalControlPlane) -> None:
    result = control_plane.kubectl("auth", "can-i", "create", "customresourcedefinitions")
    assert result.stdout.strip() == "yes"


def test_stop_ends_every_process_and_removes_the_directory(control_plane: LocalControlPlane, tmp_path: Path) -> None:
    second = LocalControlPlane(control_plane.binaries, workdir=tmp_path).start()
    processes = list(second.processes.values())
    assert len(processes) == 2
    directory = second.directory
    assert second.kubectl("get", "namespaces").returncode == 0
    second.stop()
    assert all(process.poll() is not None for process in processes)
    assert not directory.exists()
