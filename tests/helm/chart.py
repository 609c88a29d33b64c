"""Running the real helm binary on the chart: rendering, and the paths the chart tests compare."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from memories.controlplane.binaries import cache_bin_dir

REPOSITORY = Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "helm" / "memories-optimizer"
#: helm built from source has no Kubernetes version baked in (it defaults to v1.20): give the one the tests run.
KUBE_VERSION = "1.35.4"


def helm_binary() -> Path | None:
    """The helm that ``scripts/controlplane-binaries`` built, else the one on the PATH, else None."""
    cached = cache_bin_dir() / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    found = shutil.which("helm")
    return Path(found) if found else None


@dataclass(frozen=True)
class Helm:
    """helm with its caches in a private directory and loopback traffic kept off any proxy."""

    binary: Path
    home: Path
    kubeconfig: Path | None = None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``helm *args``; never raises on a non-zero exit status."""
        environment = dict(os.environ)
        for variable, directory in (
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
        ):
            environment[variable] = str(self.home / directory)
        no_proxy = ",".join(filter(None, [environment.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
        environment["NO_PROXY"] = environment["no_proxy"] = no_proxy
        if self.kubeconfig is not None:
            environment["KUBECONFIG"] = str(self.kubeconfig)
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=environment, timeout=180, check=False
        )

    def render(
        self,
        *args: str,
        release: str = "memories",
        namespace: str = "memories-system",
        kube_version: str = KUBE_VERSION,
    ) -> subprocess.CompletedProcess[str]:
        """``helm template`` of the chart, whatever its outcome."""
        return self.run(
            "template", release, str(CHART), "--namespace", namespace, "--kube-version", kube_version, *args
        )

    def template(self, *args: str, release: str = "memories", namespace: str = "memories-system") -> str:
        """``helm template`` of the chart; fails the test with helm's message if it refuses."""
        result = self.render(*args, release=release, namespace=namespace)
        assert result.returncode == 0, result.stderr
        return result.stdout


def documents(rendered: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a rendering."""
    return [document for document in yaml.safe_load_all(rendered) if document]


def find(rendered: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Every rendered object of ``kind``."""
    return [document for document in rendered if document.get("kind") == kind]


def only(rendered: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single rendered object of ``kind``."""
    matches = find(rendered, kind)
    assert len(matches) == 1, f"expected one {kind}, rendered {len(matches)}"
    return matches[0]


def sets(*assignments: str) -> list[str]:
    """``--set`` arguments for each ``key=value``."""
    return [argument for assignment in assignments for argument in ("--set", assignment)]
