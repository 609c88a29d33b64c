"""The README's first command, as a new user runs it: the system comes up, shows a Ready policy with an
injected pod and a live hit rate, and leaves nothing behind when it stops."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.mark.controlplane
def test_memories_dev_brings_the_system_up_and_cleans_up() -> None:
    if os.environ.get("MEMORIES_SKIP_CONTROLPLANE") == "1":
        pytest.skip("MEMORIES_SKIP_CONTROLPLANE=1")
    temp_root = Path(tempfile.gettempdir())
    before = {path.name for path in temp_root.glob("memories-dev-*")}
    result = subprocess.run(
        [sys.executable, "-m", "memories", "--log-level", "WARNING", "dev", "--once", "--interval", "3"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines() if line.startswith("memories-")}
    namespace, _, ready, reason, pods, injected = rows["tiles"]
    assert (namespace, ready, reason) == ("memories-demo", "True", "Reconciled")
    assert int(injected) >= 1 and int(pods) >= int(injected)
    assert "local sidecar hit rate: l1" in result.stdout
    assert "==> installing the CRDs" in result.stderr
    leftovers = {path.name for path in temp_root.glob("memories-dev-*")} - before
    assert not leftovers, f"temporary directories left behind: {leftovers}"
    strays = [
        process.info["cmdline"]
        for process in psutil.process_iter(["cmdline"])
        if any("memories-dev-" in part for part in process.info["cmdline"] or [])
    ]
    assert not strays, f"processes left running: {strays}"
