"""A sidecar agent as a real process (``python -m memories.sidecar``), for tests of what only a process shows:
start, signals, restarts, faults."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

MODULE_COMMAND = [sys.executable, "-m", "memories.sidecar"]


def ready(ops_port: int) -> bool:
    """Whether the agent's ``/readyz`` answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class SidecarProcess:
    """``command --config config_path``, its output (logs) captured; ports are read from the config."""

    def __init__(self, config_path: Path, command: list[str]) -> None:
        document = yaml.safe_load(config_path.read_text())
        self.resp_port = document["server"]["resp"]["port"]
        self.ops_port = document["server"]["ops"]["port"]
        self.process = subprocess.Popen(
            [*command, "--config", str(config_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 20.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process.poll() is None, self.process.stdout.read().decode() if self.process.stdout else ""
            if ready(self.ops_port):
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError("sidecar not ready")

    def ops(self, path: str) -> tuple[int, str]:
        """GET ``path`` on the ops port: the status and the body's text."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}{path}", timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metric(self, name: str) -> float:
        """The value of the sample ``name`` (without labels) on ``/metrics``."""
        for line in self.ops("/metrics")[1].splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"no sample {name} on /metrics")

    def terminate(self, timeout: float = 15.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
