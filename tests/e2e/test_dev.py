"""The README's first command, as a new user runs it: the system comes up, shows a Ready policy with an
injected pod and a live hit rate, and leaves nothing behind when it stops."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
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


def kill_and_report(process: subprocess.Popen[str]) -> str:
    """Kill a ``memories dev`` that did not stop and every process it started but its node's reaper, wait for the
    reaper to tear the node down (so the next test starts clean), and return the last lines of its stderr (the last
    "==> stopping ..." names the step it hung in) with the processes it had."""
    descendants = psutil.Process(process.pid).children(recursive=True)
    commands = []
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            commands.append(" ".join(child.cmdline()))
            if not any("node.reaper" in part for part in child.cmdline()):
                child.kill()
    process.kill()
    _, stderr = process.communicate()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        "memories-dev-" in part for proc in psutil.process_iter(["cmdline"]) for part in proc.info["cmdline"] or []
    ):
        time.sleep(1)
    return "\n".join([*stderr.splitlines()[-30:], "its processes:", *commands])


@pytest.mark.controlplane
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_memories_dev_stops_cleanly_on_ctrl_c_and_sigterm(stop_signal: signal.Signals) -> None:
    if os.environ.get("MEMORIES_SKIP_CONTROLPLANE") == "1":
        pytest.skip("MEMORIES_SKIP_CONTROLPLANE=1")
    temp_root = Path(tempfile.gettempdir())
    before = {path.name for path in temp_root.glob("memories-dev-*")}
    # Started as a script's background job is (`memories dev &`): with SIGINT ignored, which it must not inherit.
    process = subprocess.Popen(
        [sys.executable, "-m", "memories", "--log-level", "WARNING", "dev", "--interval", "1"],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert process.stderr is not None
    deadline = time.monotonic() + 180
    for line in process.stderr:
        if "memories dev is up" in line or time.monotonic() > deadline:
            break
    process.send_signal(stop_signal)
    try:
        process.communicate(timeout=90)  # drains the pipes while it cleans up
    except subprocess.TimeoutExpired:
        pytest.fail(f"memories dev did not stop within 90 s of {stop_signal.name}:\n{kill_and_report(process)}")
    assert process.returncode == 130
    created = {path.name for path in temp_root.glob("memories-dev-*")} - before
    assert not created, f"temporary directories left behind: {created}"
    strays = [
        process.info["cmdline"]
        for process in psutil.process_iter(["cmdline"])
        if any(name in part for part in process.info["cmdline"] or [] for name in created | {"memories-dev-"})
    ]
    assert not strays, f"processes left running: {strays}"
