"""The commands the image runs (`memories operator`, `memories sidecar`) work outside a container."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: The console script pip installs next to the interpreter, as in the image's /opt/memories/bin.
MEMORIES = Path(sys.executable).parent / "memories"


@pytest.mark.parametrize(
    ("command", "expected_options"),
    [
        ("operator", ["--namespace", "--image", "--webhook-port", "--webhook-cert", "--webhook-key", "--liveness"]),
        ("sidecar", ["--config"]),
    ],
)
def test_image_command_answers_help(command: str, expected_options: list[str]) -> None:
    result = subprocess.run([str(MEMORIES), command, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for option in expected_options:
        assert option in result.stdout


def test_unknown_command_fails_with_usage() -> None:
    result = subprocess.run([str(MEMORIES), "no-such-command"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "usage: memories" in result.stderr
