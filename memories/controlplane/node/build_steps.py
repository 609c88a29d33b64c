"""Long build steps with progress: a heartbeat line every 30 s, the log's tail when a step fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from memories.controlplane.processes import log_tail
from memories.errors import ControlPlaneError

HEARTBEAT_SECONDS = 30.0
_STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line on stderr, with the seconds since this process started."""
    print(f"[node-images {time.monotonic() - _STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)


def run_long(label: str, command: Sequence[str], log_path: Path, *, cwd: Path | None = None, nice: bool = True) -> None:
    """Run ``command`` at a lower CPU priority (``nice -n 10``), output to ``log_path``, with a heartbeat.

    Raises:
        ControlPlaneError: the command failed; the message quotes the end of its log.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"{label}: started (log: {log_path})")
    began = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*(["nice", "-n", "10"] if nice else []), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        next_beat = began + HEARTBEAT_SECONDS
        while process.poll() is None:
            time.sleep(0.5)
            if time.monotonic() >= next_beat:
                say(f"{label}: still running ({time.monotonic() - began:.0f} s elapsed)")
                next_beat += HEARTBEAT_SECONDS
    if process.returncode != 0:
        raise ControlPlaneError(
            f"{label} failed with exit status {process.returncode} after {time.monotonic() - began:.0f} s; "
            f"log {log_path}:\n{log_tail(log_path, 40)}"
        )
    say(f"{label}: done in {time.monotonic() - began:.0f} s")
