"""Benchmark: what coherence tracking costs a write-through SET, in the agent and in its L3 redis-server.

One L3 redis-server; an agent with ``coherence: none`` and one with ``tracking`` on it (each its own key prefix).
For ``--rounds`` rounds each agent in turn gets the same ``redis-benchmark -t set -c 50 -r 100000`` run; printed are
the medians of throughput, the agent's CPU time per SET (its process) and the L3 redis-server's (``INFO cpu``), and
tracking/none. With ``BCAST`` tracking Redis files every key written under a tracked prefix for broadcast and drops
it at the end of its turn, even when the writer's ``NOLOOP`` leaves nothing to send: that work shares the machine
with the agent.

    .venv/bin/python bench/tracking_cost.py [--pipeline 16] [--requests 300000] [--size 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import redis
from sidecar_resp import RedisServer, Sidecar, redis_benchmark  # bench/ is the script's directory, first on sys.path

#: (requests per second, agent CPU µs per SET, L3 redis-server CPU µs per SET) of one run.
Run = tuple[float, float, float]


def redis_cpu_seconds(client: redis.Redis) -> float:
    """User + system CPU time redis-server has used since it started."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300_000, help="redis-benchmark -n per run")
    parser.add_argument("--size", type=int, default=100, help="value bytes")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    runs: dict[str, list[Run]] = {"none": [], "tracking": []}
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        l3 = RedisServer(workdir)
        url = f"redis://127.0.0.1:{l3.port}/0"
        agents = {
            "none": Sidecar(workdir, {"l1Size": "1GB", "l3": {"url": url, "coherence": "none", "keyPrefix": "n:"}}),
            "tracking": Sidecar(workdir, {"l1Size": "1GB", "l3": {"url": url, "keyPrefix": "t:"}}),
        }
        client = redis.Redis(port=l3.port)
        try:
            for _ in range(arguments.rounds):
                for name, agent in agents.items():
                    redis_before, agent_before = redis_cpu_seconds(client), agent.cpu_seconds()
                    row = redis_benchmark(
                        agent.resp_port, arguments.size, arguments.pipeline, arguments.requests, tests="set"
                    )["SET"]
                    per_set = 1e6 / arguments.requests
                    runs[name].append(
                        (
                            row["rps"],
                            (agent.cpu_seconds() - agent_before) * per_set,
                            (redis_cpu_seconds(client) - redis_before) * per_set,
                        )
                    )
        finally:
            client.close()
            for agent in agents.values():
                agent.stop()
            l3.stop()
    medians = {
        name: tuple(statistics.median(run[column] for run in measured) for column in range(3))
        for name, measured in runs.items()
    }
    print(f"SET -P {arguments.pipeline}, {arguments.size} B values, medians of {arguments.rounds} rounds")
    print("| coherence | rps | agent CPU µs per SET | L3 redis-server CPU µs per SET |")
    print("|---|---|---|---|")
    for name, (rps, agent_cpu, redis_cpu) in medians.items():
        print(f"| {name} | {rps:.0f} | {agent_cpu:.2f} | {redis_cpu:.2f} |")
    print(f"tracking/none throughput: {medians['tracking'][0] / medians['none'][0]:.2f}")


if __name__ == "__main__":
    main()
