"""Control-plane child processes do not outlive the process that started them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memories.controlplane.processes import ManagedProcess

OWNER = """
import sys, time
from pathlib import Path
from memories.controlplane.processes import ManagedProcess
child = ManagedProcess("sleeper", ["sleep", "300"], Path(sys.argv[1]) / "sleeper.log")
print(child.process.pid, flush=True)
time.sleep(300)
"""


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def runs_program(pid: int, name: str) -> bool:
    """True once ``pid`` has executed the program ``name`` (setpriv has set the death signal and exec'd it)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == name
    except FileNotFoundError:
        return False


def test_a_child_is_terminated_when_its_owner_is_killed(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    child_pid = int(owner.stdout.readline())
    try:
        # Killed before setpriv has asked for the death signal, the owner would leave the child running (the
        # window dies_with_its_parent's docstring names): wait until the command itself runs.
        deadline = time.monotonic() + 10
        while not runs_program(child_pid, "sleep") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runs_program(child_pid, "sleep")
        owner.kill()  # SIGKILL: no finalizer, no atexit, nothing of the owner's own runs
        owner.wait(10)
        deadline = time.monotonic() + 10
        while is_running(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_running(child_pid), "the child outlived its killed owner"
    finally:
        if is_running(child_pid):
            os.kill(child_pid, 9)


def test_a_child_stops_on_stop_and_keeps_its_log(tmp_path: Path) -> None:
    child = ManagedProcess("echo", ["sh", "-c", "echo started; exec sleep 300"], tmp_path / "echo.log")
    deadline = time.monotonic() + 10
    while b"started" not in (tmp_path / "echo.log").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.stop(5)
    assert child.process.returncode is not None
    assert (tmp_path / "echo.log").read_bytes() == b"started\n"
    with pytest.raises(Exception, match="exited with status"):
        child.check_alive()
