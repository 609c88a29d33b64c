"""Fixtures of the chart tests: the helm binary and, for install tests, the real control plane.

``control_plane`` is the operator suite's fixture (one etcd + kube-apiserver per session of this directory); the
chart installs its own CRDs there, so ``installed_crds`` is not used.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helm.chart import Helm, helm_binary
from tests.operator.conftest import control_plane

__all__ = ["control_plane"]


@pytest.fixture(scope="session")
def helm_executable() -> Path:
    """The helm binary; missing, it fails the test (or skips it with MEMORIES_SKIP_CONTROLPLANE=1)."""
    binary = helm_binary()
    if binary is None:
        if os.environ.get("MEMORIES_SKIP_CONTROLPLANE") == "1":
            pytest.skip("helm is not built and MEMORIES_SKIP_CONTROLPLANE=1")
        pytest.fail(
            "helm not found: build it with scripts/controlplane-binaries (or put helm on the PATH)", pytrace=False
        )
    return binary


@pytest.fixture(scope="session")
def helm(helm_executable: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm for offline commands (lint, template)."""
    return Helm(helm_executable, tmp_path_factory.mktemp("helm-home"))
