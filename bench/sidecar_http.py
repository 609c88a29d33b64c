"""Benchmark: the agent's HTTP data API, this source tree against another one (e.g. a commit before a change).

Starts one ``python -m memories.sidecar`` from each tree (``--baseline DIR`` is put first on PYTHONPATH for the
second; give it the compiled extensions by copying this tree's ``*.so`` files), then alternates them (who goes first too)
for ``--runs`` rounds: ``--connections`` kept-alive aiohttp clients each PUT a ``--value-size`` value and GET it back
for ``--seconds``. Reports the median requests per second, p99 latency and agent CPU time per request (the
steadiest of the three on a shared machine) of each tree and their ratios.

    .venv/bin/python bench/sidecar_http.py --baseline /tmp/before [--runs 5] [--seconds 4] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from agent_process import AgentProcess  # bench/ is the script's directory, first on sys.path

from memories.local_processes import free_port


class Agent(AgentProcess):
    """One agent process whose ``memories`` package comes from ``source`` (None: this tree)."""

    def __init__(self, workdir: Path, source: Path | None) -> None:
        self.http_port, ops_port = free_port(), free_port()
        document = {
            "server": {
                "resp": {"port": free_port()},
                "http": {"port": self.http_port},
                "ops": {"host": "127.0.0.1", "port": ops_port},
            }
        }
        environment = dict(os.environ)
        if source is not None:
            environment["PYTHONPATH"] = str(source)
        path = workdir / f"agent-{self.http_port}.yaml"
        super().__init__(document, path, ops_port, cwd=source or Path.cwd(), environment=environment)


async def load(agent: Agent, connections: int, seconds: float, value: bytes) -> tuple[float, float, float]:
    """Requests per second, p99 latency (ms) and the agent's CPU microseconds per request, of ``connections``
    clients doing PUT + GET for ``seconds``."""
    port = agent.http_port
    cpu_before = agent.cpu_seconds()
    latencies: list[float] = []
    url = f"http://127.0.0.1:{port}/v1/cache"
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession, number: int) -> None:
        key = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.put(f"{url}/c{number}:{key % 100}", data=value) as response:
                assert response.status == 204, response.status
            async with session.get(f"{url}/c{number}:{key % 100}") as response:
                assert await response.read() == value
            latencies.append((time.perf_counter() - started) / 2)
            key += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session, number) for number in range(connections)))
        elapsed = time.monotonic() - started
    cpu_per_request = (agent.cpu_seconds() - cpu_before) / (2 * len(latencies)) * 1e6
    latencies.sort()
    return 2 * len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000, cpu_per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="source tree to compare against")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--value-size", type=int, default=4096)
    arguments = parser.parse_args()
    value = os.urandom(arguments.value_size)
    results: dict[str, list[tuple[float, float, float]]] = {"this tree": [], "baseline": []}
    with tempfile.TemporaryDirectory() as directory:
        agents = {"this tree": Agent(Path(directory), None), "baseline": Agent(Path(directory), arguments.baseline)}
        try:
            for run in range(arguments.runs):
                for name, agent in sorted(agents.items(), reverse=bool(run % 2)):  # who goes first alternates
                    results[name].append(asyncio.run(load(agent, arguments.connections, arguments.seconds, value)))
        finally:
            for agent in agents.values():
                agent.stop()
    medians = {
        name: [statistics.median(run[column] for run in runs) for column in range(3)] for name, runs in results.items()
    }
    for name, (throughput, p99, cpu) in medians.items():
        runs = [round(run[0]) for run in results[name]]
        print(f"{name:10}  {throughput:8.0f} req/s  p99 {p99:6.2f} ms  agent CPU {cpu:6.1f} us/request  runs {runs}")
    ratios = [this / baseline for this, baseline in zip(medians["this tree"], medians["baseline"], strict=True)]
    print(f"this tree / baseline: throughput {ratios[0]:.3f}, p99 {ratios[1]:.3f}, CPU per request {ratios[2]:.3f}")


if __name__ == "__main__":
    main()
