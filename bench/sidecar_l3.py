"""Benchmark: the sidecar with a shared Redis (L3) behind it, coherence off and on, standalone and Cluster, against
redis-server itself — redis-benchmark's SET and GET rows, side by side in one run.

Configurations, alternated for ``--runs`` rounds (medians reported): redis-server alone; the agent with L3 on a
standalone redis-server with ``coherence: none`` and with ``coherence: tracking``; the agent with L3 on a 3-master
Redis Cluster, tracking. Every agent write goes to Redis before it is acknowledged (write-through), so the SET rows
measure the agent's round trip to L3; GET rows are served from L1 after the first read. Ratios: tracking vs none
(target ≥ 0.9), and each agent row vs redis-server (throughput ≥ 0.5×, p99 ≤ 2×).

    .venv/bin/python bench/sidecar_l3.py [--runs 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.redis_servers starts the Cluster

from sidecar_resp import RedisServer, Sidecar, redis_benchmark

from tests.redis_servers import redis_cluster

Result = dict[str, dict[str, float]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies redis-benchmark -n")
    arguments = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as directory, redis_cluster(Path(directory) / "cluster") as cluster:
        workdir = Path(directory)
        peer, l3 = RedisServer(workdir), RedisServer(workdir)
        url = f"redis://127.0.0.1:{l3.port}/0"
        agents = {
            "none": Sidecar(workdir, {"l1Size": "256MB", "l3": {"url": url, "coherence": "none", "keyPrefix": "n:"}}),
            "tracking": Sidecar(workdir, {"l1Size": "256MB", "l3": {"url": url, "keyPrefix": "t:"}}),
            "cluster": Sidecar(
                workdir, {"l1Size": "256MB", "l3": {"url": cluster.url, "mode": "cluster", "keyPrefix": "c:"}}
            ),
        }
        ports = {"redis": peer.port, **{name: agent.resp_port for name, agent in agents.items()}}
        try:
            print(
                "| test | value | pipeline | redis rps | none rps | tracking rps | cluster rps | tracking/none | "
                "tracking/redis | cluster/redis | p99 ms redis / none / tracking / cluster | p99 tracking/redis |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
            for size in (100, 4096):
                for pipeline in (1, 16):
                    requests = int((100_000 if pipeline == 1 else 400_000) * arguments.scale)
                    results: dict[str, list[Result]] = {name: [] for name in ports}
                    for _ in range(arguments.runs):
                        for name, port in ports.items():
                            results[name].append(redis_benchmark(port, size, pipeline, requests))
                    for test in ("SET", "GET"):
                        rps = {n: statistics.median(r[test]["rps"] for r in runs) for n, runs in results.items()}
                        p99 = {
                            n: statistics.median(r[test]["p99_latency_ms"] for r in runs) for n, runs in results.items()
                        }
                        print(
                            f"| {test} | {size} B | {pipeline} | {rps['redis']:.0f} | {rps['none']:.0f} | "
                            f"{rps['tracking']:.0f} | {rps['cluster']:.0f} | {rps['tracking'] / rps['none']:.2f} | "
                            f"{rps['tracking'] / rps['redis']:.2f} | {rps['cluster'] / rps['redis']:.2f} | "
                            f"{p99['redis']:.2f} / {p99['none']:.2f} / {p99['tracking']:.2f} / {p99['cluster']:.2f} | "
                            f"{p99['tracking'] / p99['redis']:.2f} |",
                            flush=True,
                        )
        finally:
            for agent in agents.values():
                agent.stop()
            peer.stop()
            l3.stop()


if __name__ == "__main__":
    main()
