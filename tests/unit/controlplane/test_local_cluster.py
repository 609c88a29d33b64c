"""LocalControlPlane failure paths, with stand-in binaries (the real ones are exercised in tests/operator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memories.controlplane import LocalControlPlane, locate_binaries
from memories.errors import ControlPlaneError


def fake_binaries(directory: Path, etcd_script: str) -> Path:
    directory.mkdir()
    for name, script in (("etcd", etcd_script), ("kube-apiserver", "sleep 30"), ("kubectl", "exit 0")):
        path = directory / name
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
    return directory


def test_start_fails_with_the_log_of_the_process_that_exited(tmp_path: Path) -> None:
    bin_dir = fake_binaries(tmp_path / "bin", 'echo "etcd: cannot listen" >&2; exit 3')
    workdir = tmp_path / "work"
    workdir.mkdir()
    control_plane = LocalControlPlane(locate_binaries(bin_dir=bin_dir), workdir=workdir, stop_timeout_seconds=2)
    with pytest.raises(ControlPlaneError, match=r"etcd exited with status 3(.|\n)*etcd: cannot listen"):
        control_plane.start()
    assert list(workdir.iterdir()) == []


def test_start_times_out_when_the_api_server_never_answers(tmp_path: Path) -> None:
    bin_dir = fake_binaries(tmp_path / "bin", "sleep 30")
    control_plane = LocalControlPlane(
        locate_binaries(bin_dir=bin_dir), workdir=tmp_path, startup_timeout_seconds=1, stop_timeout_seconds=2
    )
    with pytest.raises(ControlPlaneError, match="timed out after 1 s waiting for kube-apiserver"):
        control_plane.start()


def test_directory_is_unavailable_before_start(tmp_path: Path) -> None:
    bin_dir = fake_binaries(tmp_path / "bin", "exit 0")
    with pytest.raises(ControlPlaneError, match="not started"):
        _ = LocalControlPlane(locate_binaries(bin_dir=bin_dir)).kubeconfig
