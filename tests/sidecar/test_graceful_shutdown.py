"""SIGTERM during a write burst: every acknowledged write is there after the restart (L1-only entries are written
to L2 within the grace period), as docs/consistency.md promises. A real agent process, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import redis
import yaml

from memories.local_processes import free_port
from tests.redis_servers import wait_until


def start_agent(config: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "memories.sidecar", "--config", str(config)])
    port = yaml.safe_load(config.read_text())["server"]["resp"]["port"]
    wait_until(lambda: redis.Redis(port=port, socket_timeout=1).ping(), 30, "the agent to answer")
    return process


def test_sigterm_during_a_write_burst_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cache": {"l1Size": "1MB", "l2Size": "64MB", "l2Path": str(tmp_path / "l2")},
                "server": {"resp": {"port": port}, "http": {"port": free_port()}, "ops": {"port": free_port()}},
                "shutdown": {"gracePeriod": "10s"},
            }
        )
    )
    agent = start_agent(config)
    acknowledged: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def write(client_number: int) -> None:
        client = redis.Redis(port=port, socket_timeout=5)
        for index in range(100_000):
            key, value = f"c{client_number}-{index}", f"{client_number}:{index}:".encode() + b"v" * 2000
            try:
                client.set(key, value)
            except (redis.RedisError, OSError):
                return  # the agent stopped accepting: this write was not acknowledged
            with lock:
                acknowledged.append((key, value))

    writers = [threading.Thread(target=write, args=(number,)) for number in range(4)]
    for writer in writers:
        writer.start()
    wait_until(lambda: len(acknowledged) > 1500, 60, "a burst of writes")  # several times L1
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    for writer in writers:
        writer.join(30)
    agent = start_agent(config)
    try:
        client = redis.Redis(port=port, socket_timeout=10)
        missing = [key for key, value in acknowledged if client.get(key) != value]
        assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost, e.g. {missing[:3]}"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
