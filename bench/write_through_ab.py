"""Benchmark: the write-through SET of agents run by several checkouts, side by side with redis-server.

One L3 redis-server; per ``NAME=PYTHON`` an agent with a 1 GB L1 and tracking on it, run by that interpreter (its
venv's python: the code of that checkout), each under its own key prefix. For ``--rounds`` rounds, redis-server
alone and then each agent in turn get the same ``redis-benchmark -t set -c 50 -r 100000`` run; the medians of
throughput, p99 and the agent's CPU time per SET (user + system of its process over the run, divided by the SETs)
are printed with each one's ratio to redis-server. SET only: its CPU per command is the steadier figure on a shared
machine, and the one the write-through path changes.

    .venv/bin/python bench/write_through_ab.py [--pipeline 1] [--requests 60000] [--size 100] [--rounds 5]
        main=<main's venv>/bin/python branch=.venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from sidecar_resp import RedisServer, Sidecar, redis_benchmark  # bench/ is the script's directory, first on sys.path

#: (requests per second, p99 in ms, agent CPU µs per SET) of one run.
Run = tuple[float, float, float]


def set_run(port: int, pipeline: int, requests: int, size: int) -> tuple[float, float]:
    """One redis-benchmark SET run against ``port``: (requests per second, p99 latency in ms)."""
    row = redis_benchmark(port, size, pipeline, requests, tests="set")["SET"]
    return row["rps"], row["p99_latency_ms"]


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
            for _ in range(arguments.rounds):
                shape = (arguments.pipeline, arguments.requests, arguments.size)
                runs["redis"].append((*set_run(peer.port, *shape), 0.0))
                for name, agent in agents.items():
                    before = agent.cpu_seconds()
                    rps, p99 = set_run(agent.resp_port, *shape)
                    runs[name].append((rps, p99, (agent.cpu_seconds() - before) / arguments.requests * 1e6))
        finally:
            for agent in agents.values():
                agent.stop()
            peer.stop()
            l3.stop()
    redis_rps = statistics.median(run[0] for run in runs["redis"])
    print(f"SET -P {arguments.pipeline}, {arguments.size} B values, medians of {arguments.rounds} rounds", flush=True)
    print("| server | rps | ×redis | p99 ms | agent CPU µs per SET | each round's rps |")
    print("|---|---|---|---|---|---|")
    for name, measured in runs.items():
        rps = statistics.median(run[0] for run in measured)
        p99 = statistics.median(run[1] for run in measured)
        cpu = "" if name == "redis" else f"{statistics.median(run[2] for run in measured):.1f}"
        each = ", ".join(f"{run[0]:.0f}" for run in measured)
        print(f"| {name} | {rps:.0f} | {rps / redis_rps:.2f} | {p99:.2f} | {cpu} | {each} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
