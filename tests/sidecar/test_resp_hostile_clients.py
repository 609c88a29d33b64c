"""Hostile RESP clients against the agent as a real process (its own RSS, read from /proc): a client that
pipelines GETs of a 16 KiB value and never reads cannot grow the agent's memory, and others keep being served."""

from __future__ import annotations

import errno
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from tests.sidecar.agent_process import MODULE_COMMAND, SidecarProcess
from tests.sidecar.conftest import sidecar_document

VALUE = b"x" * 16 * 1024
GETS = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 16384  # 377 KB of requests for 256 MiB of replies
MIB = 2**20


def rss_bytes(pid: int) -> int:
    """VmRSS of process ``pid`` (bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError("no VmRSS")


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[object]:
    started: list[SidecarProcess] = []

    def start(limits: dict[str, object]) -> SidecarProcess:
        path = tmp_path / f"sidecar-{len(started)}.yaml"
        path.write_text(yaml.safe_dump(sidecar_document({"server": {"limits": limits}})))
        agent = SidecarProcess(path, MODULE_COMMAND)
        started.append(agent)
        agent.wait_ready()
        return agent

    yield start
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()


def flood(agent: SidecarProcess, seconds: float) -> tuple[int, int, bool, int]:
    """Pipeline GETs of the 16 KiB value for ``seconds`` without reading, while another client keeps asking.

    Returns (request bytes the agent accepted, peak RSS of the agent, whether it closed the connection, how many
    requests of the other client were answered correctly).
    """
    other = redis.Redis(port=agent.resp_port, socket_timeout=5)
    other.set("big", VALUE)
    peak = rss_bytes(agent.process.pid)
    sent, closed, answered = 0, False, 0
    with socket.create_connection(("127.0.0.1", agent.resp_port)) as hostile:
        hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hostile.setblocking(False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not closed:
            try:
                sent += hostile.send(GETS)
            except BlockingIOError:
                time.sleep(0.01)  # the agent stopped reading: its buffers and ours are full
            except OSError as error:
                assert error.errno in (errno.ECONNRESET, errno.EPIPE), error
                closed = True
            answered += other.get("big") == VALUE and other.ping()
            peak = max(peak, rss_bytes(agent.process.pid))
    return sent, peak, closed, answered


def closes_counted(agent: SidecarProcess) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("memories_sidecar_resp_output_limit_closes_total "):
                return float(line.split()[1])
    raise LookupError("metric missing")


def test_a_client_that_never_reads_is_paused_and_cannot_grow_memory(start_agent: object) -> None:
    agent = start_agent({})  # type: ignore[operator]
    baseline = rss_bytes(agent.process.pid)
    _sent, peak, closed, answered = flood(agent, 3.0)
    # Held back: a 1 MiB backlog of requests, a turn's 1 MiB of replies and the transport's buffer. Without the
    # bound the agent grew by 100 MiB in these 3 s (by 1.9 GB after 6 MB sent in issue 11).
    assert peak - baseline < 32 * MIB, f"RSS grew by {(peak - baseline) / MIB:.0f} MiB"
    assert not closed  # under the 64 MiB default limit the client is only held back
    assert answered > 10
    assert closes_counted(agent) == 0


def test_a_client_past_the_output_limit_is_closed_and_counted(start_agent: object) -> None:
    agent = start_agent({"maxOutputBuffer": "512Ki"})  # type: ignore[operator]
    baseline = rss_bytes(agent.process.pid)
    _sent, peak, closed, answered = flood(agent, 10.0)
    assert closed
    assert peak - baseline < 512 * 1024 + 48 * MIB, f"RSS grew by {(peak - baseline) / MIB:.0f} MiB"
    assert answered > 0
    assert closes_counted(agent) == 1
    assert redis.Redis(port=agent.resp_port).get("big") == VALUE
