"""A real etcd + kube-apiserver for the operator tests, started once per session.

The binaries come from ``scripts/controlplane-binaries`` (CI builds them). A missing binary fails the tests;
set ``MEMORIES_SKIP_CONTROLPLANE=1`` to skip them on purpose instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from memories.controlplane import LocalControlPlane, locate_binaries
from memories.errors import ControlPlaneError
from memories.operator.local import install_crds

REPOSITORY = Path(__file__).resolve().parents[2]
CRD_DIRECTORY = REPOSITORY / "crds"


def _skip_requested() -> bool:
    return os.environ.get("MEMORIES_SKIP_CONTROLPLANE") == "1"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalControlPlane]:
    """The running control plane: ``.kubeconfig`` (Path) and ``.kubectl(*args) -> CompletedProcess[str]``.

    It runs workloads too (kube-controller-manager, kube-scheduler, a kwok fake node): Deployments create Pods
    that reach Running, garbage collection and namespace deletion behave as in a real cluster.
    """
    if _skip_requested():
        pytest.skip("MEMORIES_SKIP_CONTROLPLANE=1: tests against the real kube-apiserver are skipped on request")
    try:
        binaries = locate_binaries()
    except ControlPlaneError as error:
        pytest.fail(f"{error} (or set MEMORIES_SKIP_CONTROLPLANE=1 to skip these tests)", pytrace=False)
    with LocalControlPlane(binaries, workdir=tmp_path_factory.mktemp("controlplane"), workloads=True) as running:
        yield running


@pytest.fixture(scope="session")
def installed_crds(control_plane: LocalControlPlane) -> None:
    """The repository's CRDs applied and Established (not the examples)."""
    install_crds(control_plane.kubectl, CRD_DIRECTORY)
