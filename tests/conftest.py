"""Fixtures shared by every test suite (a real redis-server on a loopback port) and the markers implied by
fixture use (tests/markers.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from memories.local_processes import free_port
from tests.markers import implied_markers

#: Under ``HYPOTHESIS_PROFILE=ci`` (set by .ci/run) every property test draws the same examples on every run (derived
#: from the test itself), so a rare slow or failing draw cannot turn one CI run red at random; anywhere else each
#: run draws new examples, and a failure prints the blob that replays it (``@reproduce_failure``).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with what its fixtures need (``controlplane``, ``realnode``): see tests/markers.py."""
    for item in items:
        own = {marker.name for marker in item.iter_markers()}
        for name in sorted(implied_markers(getattr(item, "fixturenames", ()), own) - own):
            item.add_marker(name)


def wait_for_port(port: int, timeout_seconds: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port, or fail."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_seconds}s")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (Debian's) on a free loopback port, for the whole session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; .ci/run installs it (apt-get install redis-server)")
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
