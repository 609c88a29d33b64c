"""Benchmark: the write-through SET of agents run by several checkouts, side by side with redis-server.

One L3 redis-server; per ``NAME=PYTHON`` an agent with a 1 GB L1 and tracking on it, run by that interpreter (its
venv's python: the code of that checkout), each under its own key prefix. For ``--rounds`` rounds, redis-server
alone and then each agent in turn get the same ``redis-benchmark -t set -c 50 -r 100000`` run; the medians of
throughput, p99 and the CPU time per SET (user + system over the run, divided by the SETs) of the server (the agent,
or redis-server alone), of L3's redis-server and of redis-benchmark are printed with each one's ratio to
redis-server, and how many cores the three kept busy (their CPU per SET times the throughput): on a 2-core machine
that shows whether a run was bound by the CPU or by the processes waiting on each other. SET only: its CPU per
command is the steadier figure on a shared machine, and the one the write-through path changes. Each round's
throughputs are printed to stderr as it ends.

    .venv/bin/python bench/write_through_ab.py [--pipeline 1] [--requests 60000] [--size 100] [--rounds 5]
        main=<main's venv>/bin/python branch=.venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from agent_process import process_cpu_seconds  # bench/ is the script's directory, first on sys.path
from sidecar_resp import RedisServer, Sidecar, redis_benchmark


@dataclass(frozen=True)
class Run:
    """One redis-benchmark run: throughput, p99 and the CPU µs per SET of the server, L3 and redis-benchmark."""

    rps: float
    p99_ms: float
    server_cpu_us: float
    l3_cpu_us: float
    benchmark_cpu_us: float

    @property
    def cores_busy(self) -> float:
        """Cores the three processes kept busy on average (their CPU per SET times the SETs per second)."""
        return (self.server_cpu_us + self.l3_cpu_us + self.benchmark_cpu_us) * self.rps / 1e6


def median_of(runs: list[Run], value: Callable[[Run], float]) -> float:
    """The median of ``value`` of each of ``runs``."""
    return statistics.median(value(run) for run in runs)


def children_cpu_seconds() -> float:
    """User + system CPU time of this process's children that were waited for, in seconds (redis-benchmark's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def set_run(port: int, server: int, l3: int | None, pipeline: int, requests: int, size: int) -> Run:
    """One redis-benchmark SET run against ``port``, served by process ``server`` with L3 process ``l3`` (None:
    redis-server alone)."""

    def cpu_seconds() -> tuple[float, float, float]:
        """The server's, L3's (0 without one) and redis-benchmark's CPU time so far."""
        return process_cpu_seconds(server), 0.0 if l3 is None else process_cpu_seconds(l3), children_cpu_seconds()

    before = cpu_seconds()
    row = redis_benchmark(port, size, pipeline, requests, tests="set")["SET"]
    after = cpu_seconds()
    server_us, l3_us, benchmark_us = ((end - start) / requests * 1e6 for start, end in zip(before, after, strict=True))
    return Run(row["rps"], row["p99_latency_ms"], server_us, l3_us, benchmark_us)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--requests", type=int, default=60_000, help="redis-benchmark -n per run")
    parser.add_argument("--size", type=int, default=100, help="value bytes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("agents", nargs="+", metavar="NAME=PYTHON")
    arguments = parser.parse_args()
    # Absolute (not resolved: a venv's python is a symlink whose location selects the venv), as another
    # checkout's agent is started in a scratch directory.
    pythons = {name: os.path.abspath(python) for name, python in (agent.split("=", 1) for agent in arguments.agents)}
    runs: dict[str, list[Run]] = {"redis": [], **{name: [] for name in pythons}}
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        peer, l3 = RedisServer(workdir), RedisServer(workdir)
        url = f"redis://127.0.0.1:{l3.port}/0"
        agents = {
            name: Sidecar(workdir, {"l1Size": "1GB", "l3": {"url": url, "keyPrefix": f"{name}:"}}, python=python)
            for name, python in pythons.items()
        }
        try:
            for round_ in range(1, arguments.rounds + 1):
                shape = (arguments.pipeline, arguments.requests, arguments.size)
                runs["redis"].append(set_run(peer.port, peer.process.pid, None, *shape))
                for name, agent in agents.items():
                    runs[name].append(set_run(agent.resp_port, agent.process.pid, l3.process.pid, *shape))
                done = ", ".join(f"{name} {measured[-1].rps:.0f}" for name, measured in runs.items())
                print(f"round {round_}/{arguments.rounds} (rps): {done}", file=sys.stderr, flush=True)
        finally:
            for agent in agents.values():
                agent.stop()
            peer.stop()
            l3.stop()
    redis_rps = median_of(runs["redis"], lambda run: run.rps)
    print(f"SET -P {arguments.pipeline}, {arguments.size} B values, medians of {arguments.rounds} rounds", flush=True)
    print(
        "| server | rps | ×redis | p99 ms | server CPU µs per SET | L3 CPU µs per SET | redis-benchmark CPU µs per SET"
        " | cores busy | each round's rps |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, measured in runs.items():
        median = partial(median_of, measured)
        rps = median(lambda run: run.rps)
        l3_cpu = "" if name == "redis" else f"{median(lambda run: run.l3_cpu_us):.1f}"
        each = ", ".join(f"{run.rps:.0f}" for run in measured)
        print(
            f"| {name} | {rps:.0f} | {rps / redis_rps:.2f} | {median(lambda run: run.p99_ms):.2f}"
            f" | {median(lambda run: run.server_cpu_us):.1f} | {l3_cpu} | {median(lambda run: run.benchmark_cpu_us):.1f}"
            f" | {median(lambda run: run.cores_busy):.2f} | {each} |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
