"""Locating the cached control-plane binaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from memories.controlplane.binaries import cache_bin_dir, kubernetes_version, locate_binaries
from memories.errors import ControlPlaneError


def make_executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_missing_required_binaries_are_named_with_the_build_command(tmp_path: Path) -> None:
    make_executable(tmp_path, "etcd")
    with pytest.raises(ControlPlaneError, match=r"kube-apiserver, kubectl;.*controlplane-binaries"):
        locate_binaries(bin_dir=tmp_path)


def test_optional_binaries_are_none_when_absent(tmp_path: Path) -> None:
    for name in ("etcd", "kube-apiserver", "kubectl", "helm"):
        make_executable(tmp_path, name)
    binaries = locate_binaries(bin_dir=tmp_path)
    assert (binaries.kube_apiserver, binaries.helm, binaries.kwok) == (
        tmp_path / "kube-apiserver",
        tmp_path / "helm",
        None,
    )


def test_non_executable_file_does_not_count(tmp_path: Path) -> None:
    for name in ("etcd", "kube-apiserver"):
        make_executable(tmp_path, name)
    (tmp_path / "kubectl").write_text("not executable")
    with pytest.raises(ControlPlaneError, match="kubectl"):
        locate_binaries(bin_dir=tmp_path)


def test_cache_directory_is_keyed_by_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEMORIES_CONTROLPLANE_BIN_DIR", raising=False)
    monkeypatch.setenv("MEMORIES_CONTROLPLANE_CACHE", str(tmp_path))
    monkeypatch.setenv("MEMORIES_K8S_VERSION", "v1.34.10")
    assert kubernetes_version() == "v1.34.10"
    assert cache_bin_dir() == tmp_path / "v1.34.10" / "bin"
