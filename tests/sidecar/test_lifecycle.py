"""The sidecar as a real process: start to ready, SIGTERM graceful shutdown, L2 recovery on restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import yaml

from tests.sidecar.agent_process import MODULE_COMMAND, SidecarProcess
from tests.sidecar.conftest import sidecar_document


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    document = sidecar_document(
        {
            "cache": {"l1Size": "64KB", "l2Size": "16MB", "l2Path": str(tmp_path / "l2")},
            "shutdown": {"gracePeriod": "5s"},
        }
    )
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


CLI_COMMAND = [
    sys.executable,
    "-c",
    "import sys; from memories.cli import main; sys.exit(main(['sidecar', *sys.argv[1:]]))",
]


def test_sigterm_exits_cleanly_within_grace_period(config_path: Path, processes: list[SidecarProcess]) -> None:
    sidecar = SidecarProcess(config_path, MODULE_COMMAND)
    processes.append(sidecar)
    sidecar.wait_ready()
    client = redis.Redis(port=sidecar.resp_port)
    client.set("key", "value")
    started = time.monotonic()
    assert sidecar.terminate() == 0
    assert time.monotonic() - started < 5
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=sidecar.resp_port, socket_connect_timeout=0.5).ping()


def test_pipelined_requests_in_flight_at_sigterm_are_answered(
    config_path: Path, processes: list[SidecarProcess]
) -> None:
    sidecar = SidecarProcess(config_path, MODULE_COMMAND)
    processes.append(sidecar)
    sidecar.wait_ready()
    pipeline = redis.Redis(port=sidecar.resp_port).pipeline(transaction=False)
    for index in range(2000):
        pipeline.set(f"key{index}", b"x" * 100)
    replies = pipeline.execute()
    sidecar.process.send_signal(signal.SIGTERM)
    assert all(reply is True for reply in replies)
    assert sidecar.process.wait(15) == 0


def test_restart_recovers_l2_entries(config_path: Path, processes: list[SidecarProcess]) -> None:
    first = SidecarProcess(config_path, MODULE_COMMAND)
    processes.append(first)
    first.wait_ready()
    client = redis.Redis(port=first.resp_port)
    values = {f"key{index}": bytes([index]) * 4000 for index in range(64)}  # 256 KB: 4x the 64 KB L1
    client.mset(values)
    assert first.terminate() == 0
    second = SidecarProcess(config_path, MODULE_COMMAND)
    processes.append(second)
    second.wait_ready()
    restored = redis.Redis(port=second.resp_port).mget(list(values))
    recovered = [value for value in restored if value is not None]
    assert recovered, "nothing came back from L2"
    assert all(value == values[key] for key, value in zip(values, restored, strict=True) if value is not None)
    assert second.terminate() == 0


def test_memories_sidecar_subcommand_serves(config_path: Path, processes: list[SidecarProcess]) -> None:
    sidecar = SidecarProcess(config_path, CLI_COMMAND)
    processes.append(sidecar)
    sidecar.wait_ready()
    assert redis.Redis(port=sidecar.resp_port).ping()
    assert sidecar.terminate() == 0


def test_invalid_config_exits_with_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cache: {l1Size: 64XB}\n")
    result = subprocess.run([*MODULE_COMMAND, "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "cache.l1Size: cannot parse size '64XB'" in result.stderr


def test_a_pool_file_in_a_missing_directory_exits_with_a_message_naming_it(tmp_path: Path) -> None:
    arena_file = tmp_path / "absent" / "arena"
    document = sidecar_document({"memoryPool": {"blockSizes": ["4Ki"], "totalSize": "64Ki", "path": str(arena_file)}})
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(document))
    result = subprocess.run([*MODULE_COMMAND, "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"path: cannot open the memory pool's file {arena_file}: its directory" in result.stderr
    assert "Traceback" not in result.stderr
