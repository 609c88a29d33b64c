"""One agent process (``python -m memories.sidecar``) for the benchmarks: started on a config document, ready once
its ops port answers ``/readyz``, measured with psutil, stopped with SIGTERM.

The scripts' agent classes (``sidecar_resp.Sidecar``, ``sidecar_http.Agent``) build the document and choose which
checkout runs; this module does the rest once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import psutil
import yaml

READY_TIMEOUT_SECONDS = 30.0
_POLL_SECONDS = 0.01


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in seconds."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def is_ready(ops_port: int) -> bool:
    """Whether the agent whose ops server listens on loopback ``ops_port`` answers ``/readyz`` with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/readyz", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class AgentProcess:
    """An agent started by ``python`` on the config ``document`` (written to ``config_path``), in ``cwd`` and with
    ``environment`` (None: this process's); the constructor returns once ``ops_port`` is ready, and raises
    TimeoutError after ``READY_TIMEOUT_SECONDS``. ``start_to_ready`` is that wait, in seconds."""

    def __init__(
        self,
        document: Mapping[str, object],
        config_path: Path,
        ops_port: int,
        *,
        python: str = sys.executable,
        cwd: Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        config_path.write_text(yaml.safe_dump(document))
        started = time.monotonic()
        self.process = subprocess.Popen(
            [python, "-m", "memories.sidecar", "--config", str(config_path), "--log-level", "WARNING"],
            cwd=cwd,
            env=environment,
        )
        while not is_ready(ops_port):
            if time.monotonic() - started > READY_TIMEOUT_SECONDS:
                raise TimeoutError(f"agent on ops port {ops_port} did not become ready")
            time.sleep(_POLL_SECONDS)
        self.start_to_ready = time.monotonic() - started

    def rss_bytes(self) -> int:
        """The agent's resident set size, in bytes."""
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        """The agent's CPU time so far (user + system), in seconds."""
        return process_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """SIGTERM, then wait for the agent to exit (up to 30 s)."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
