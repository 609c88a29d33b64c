"""scripts/controlplane-binaries: lint-clean and agreeing with the Python side on where binaries live."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from memories.controlplane.binaries import DEFAULT_KUBERNETES_VERSION, cache_bin_dir
from memories.resources import controlplane_build_script

BUILD_SCRIPT = controlplane_build_script()


def test_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed; .ci/run installs it (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_script_and_python_agree_on_the_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEMORIES_CONTROLPLANE_BIN_DIR", raising=False)
    monkeypatch.delenv("MEMORIES_K8S_VERSION", raising=False)
    monkeypatch.setenv("MEMORIES_CONTROLPLANE_CACHE", str(tmp_path))
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-bin-dir"], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert Path(result.stdout.strip()) == cache_bin_dir() == tmp_path / DEFAULT_KUBERNETES_VERSION / "bin"
