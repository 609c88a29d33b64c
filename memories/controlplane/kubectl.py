"""Running the real kubectl (and other local tools) against a cluster, with loopback kept off any proxy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def loopback_environment() -> dict[str, str]:
    """This process's environment with 127.0.0.1 and localhost added to ``NO_PROXY``.

    A proxy configured for the host must never see loopback traffic (webhook calls, kubectl, etcd).
    """
    environment = dict(os.environ)
    no_proxy = ",".join(filter(None, [environment.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
    environment["NO_PROXY"] = environment["no_proxy"] = no_proxy
    return environment


def run_kubectl(
    binary: str | Path,
    kubeconfig: Path,
    *args: str,
    input_text: str | None = None,
    timeout_seconds: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``binary --kubeconfig kubeconfig *args``; never raises on a non-zero exit status (raises on timeout)."""
    return subprocess.run(
        [str(binary), "--kubeconfig", str(kubeconfig), *args],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        env=loopback_environment(),
        check=False,
    )
