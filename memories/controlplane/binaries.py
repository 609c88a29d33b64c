"""Find the control-plane binaries that ``scripts/controlplane-binaries`` builds and caches.

The script builds etcd, kube-apiserver, kubectl, helm (and optionally kube-controller-manager, kube-scheduler, kwok
and the kubelet) from the Go module proxy into ``~/.cache/memories/controlplane/<k8s version>/bin/``. This module
only looks them up; :func:`build_binaries` runs the script (minutes the first time) for ``memories dev``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from memories.errors import ControlPlaneError
from memories.resources import controlplane_build_script

#: Kubernetes release the tests and ``memories dev`` run; keep in step with ``scripts/controlplane-binaries``.
DEFAULT_KUBERNETES_VERSION = "v1.35.4"
#: Environment variables shared with the build script.
VERSION_ENVIRONMENT_VARIABLE = "MEMORIES_K8S_VERSION"
CACHE_ENVIRONMENT_VARIABLE = "MEMORIES_CONTROLPLANE_CACHE"
#: Point at another directory holding the binaries (e.g. an envtest install); skips the version layout.
BIN_DIR_ENVIRONMENT_VARIABLE = "MEMORIES_CONTROLPLANE_BIN_DIR"


def kubernetes_version() -> str:
    """The Kubernetes version in use: ``$MEMORIES_K8S_VERSION`` or :data:`DEFAULT_KUBERNETES_VERSION`."""
    return os.environ.get(VERSION_ENVIRONMENT_VARIABLE) or DEFAULT_KUBERNETES_VERSION


def cache_bin_dir(version: str | None = None) -> Path:
    """Directory holding the binaries of ``version`` (default :func:`kubernetes_version`)."""
    override = os.environ.get(BIN_DIR_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override)
    root = os.environ.get(CACHE_ENVIRONMENT_VARIABLE) or str(Path.home() / ".cache" / "memories" / "controlplane")
    return Path(root) / (version or kubernetes_version()) / "bin"


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """Paths of the cached binaries; the optional ones are None when they were not built."""

    bin_dir: Path
    etcd: Path
    kube_apiserver: Path
    kubectl: Path
    helm: Path | None = None
    kube_controller_manager: Path | None = None
    kube_scheduler: Path | None = None
    kwok: Path | None = None
    kubelet: Path | None = None


def _executable(bin_dir: Path, name: str) -> Path | None:
    path = bin_dir / name
    return path if path.is_file() and os.access(path, os.X_OK) else None


def locate_binaries(version: str | None = None, *, bin_dir: Path | None = None) -> ControlPlaneBinaries:
    """Return the cached binaries of ``version``.

    Raises:
        ControlPlaneError: etcd, kube-apiserver or kubectl is missing; the message says how to build them.
    """
    directory = bin_dir or cache_bin_dir(version)
    missing = [name for name in ("etcd", "kube-apiserver", "kubectl") if _executable(directory, name) is None]
    if missing:
        raise ControlPlaneError(
            f"control-plane binaries missing in {directory}: {', '.join(missing)}; "
            f"build them with bash {controlplane_build_script()} (15-30 minutes the first time, cached afterwards)"
        )
    return ControlPlaneBinaries(
        bin_dir=directory,
        etcd=directory / "etcd",
        kube_apiserver=directory / "kube-apiserver",
        kubectl=directory / "kubectl",
        helm=_executable(directory, "helm"),
        kube_controller_manager=_executable(directory, "kube-controller-manager"),
        kube_scheduler=_executable(directory, "kube-scheduler"),
        kwok=_executable(directory, "kwok"),
        kubelet=_executable(directory, "kubelet"),
    )


def build_binaries(version: str | None = None, *, minimal: bool = False) -> ControlPlaneBinaries:
    """Build (or reuse) the binaries with the build script, its progress going to this process's output.

    ``minimal`` builds only etcd, kube-apiserver, kubectl and helm.

    Raises:
        ControlPlaneError: the build failed.
        InstallationError: the package lacks the script (a broken install).
    """
    script = controlplane_build_script()
    environment = dict(os.environ)
    environment[VERSION_ENVIRONMENT_VARIABLE] = version or kubernetes_version()
    if minimal:
        environment["MEMORIES_CONTROLPLANE_MINIMAL"] = "1"
    completed = subprocess.run(["bash", str(script)], env=environment, check=False)
    if completed.returncode != 0:
        raise ControlPlaneError(f"{script} failed with exit status {completed.returncode}")
    return locate_binaries(version)
