"""Benchmark: the sidecar with a shared Redis (L3) behind it, coherence off and on, standalone and Cluster, against
redis-server itself — redis-benchmark's SET and GET rows, side by side in one run.

Configurations, alternated for ``--runs`` rounds (medians reported): redis-server alone; the agent with L3 on a
standalone redis-server with ``coherence: none`` and with ``coherence: tracking``; the agent with L3 on a 3-master
Redis Cluster, tracking. Every agent write goes to Redis before it is acknowledged (write-through), so the SET rows
measure the agent's round trip to L3; GET rows are served from L1 after the first read. Ratios: tracking vs none
(target ≥ 0.9), and each agent row vs redis-server (throughput ≥ 0.5×, p99 ≤ 2×).

``--baseline PYTHON`` adds a tracking agent run by another checkout's interpreter (its venv's python: the code
before a change), alternated with the rest, and the ratio of this checkout's tracking agent to it.
``--without-cluster`` leaves the Cluster out (a quicker A/B). ``--proxy-peer`` adds twemproxy (Debian's
``nutcracker``) in front of the L3 redis-server: a proxy makes the same two extra hops as the agent's
write-through SET and caches nothing, so its rows (and proxy/redis) tell what those hops allow on this machine;
without nutcracker installed the column is skipped with a message.

    .venv/bin/python bench/sidecar_l3.py [--runs 3] [--scale 1.0] [--baseline PYTHON] [--without-cluster]
        [--proxy-peer]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.redis_servers starts the Cluster

from sidecar_resp import RedisServer, Sidecar, redis_benchmark
from twemproxy import Nutcracker, nutcracker_path

from tests.redis_servers import redis_cluster

Result = dict[str, dict[str, float]]
# Holds every key redis-benchmark -r 100000 writes, 4 KiB values included (~450 MB): the GET rows measure L1 hits,
# not misses to L3 (with 256 MB, the 4 KiB GET rows did).
L1_SIZE = "1GB"


def checkout_of(python: str, workdir: Path) -> Path:
    """The directory of the ``memories`` package that ``python`` imports when started in ``workdir`` (as the
    baseline agent is)."""
    found = subprocess.run(
        [python, "-c", "import memories, pathlib; print(pathlib.Path(memories.__file__).parent)"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(found.stdout.strip()).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies redis-benchmark -n")
    parser.add_argument("--baseline", metavar="PYTHON", help="also run a tracking agent with this interpreter")
    parser.add_argument("--without-cluster", action="store_true", help="leave the 3-master Cluster out")
    parser.add_argument("--proxy-peer", action="store_true", help="also run twemproxy (nutcracker) before L3")
    arguments = parser.parse_args()
    nutcracker = nutcracker_path() if arguments.proxy_peer else None
    if arguments.proxy_peer and nutcracker is None:
        print("--proxy-peer: nutcracker is not installed (apt-get install nutcracker); no proxy column", flush=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        peer, l3 = RedisServer(workdir), RedisServer(workdir)
        url = f"redis://127.0.0.1:{l3.port}/0"
        agents = {
            "none": Sidecar(workdir, {"l1Size": L1_SIZE, "l3": {"url": url, "coherence": "none", "keyPrefix": "n:"}}),
            "tracking": Sidecar(workdir, {"l1Size": L1_SIZE, "l3": {"url": url, "keyPrefix": "t:"}}),
        }
        if not arguments.without_cluster:
            cluster = stack.enter_context(redis_cluster(workdir / "cluster"))
            agents["cluster"] = Sidecar(
                workdir, {"l1Size": L1_SIZE, "l3": {"url": cluster.url, "mode": "cluster", "keyPrefix": "c:"}}
            )
        if arguments.baseline:
            theirs, ours = checkout_of(arguments.baseline, workdir), Path(__file__).resolve().parents[1] / "memories"
            if theirs == ours:
                raise SystemExit(f"--baseline {arguments.baseline} imports this checkout's memories ({ours})")
            print(f"baseline: the memories of {theirs}", flush=True)
            agents["baseline"] = Sidecar(
                workdir, {"l1Size": L1_SIZE, "l3": {"url": url, "keyPrefix": "b:"}}, python=arguments.baseline
            )
        proxy = Nutcracker(workdir, l3.port, nutcracker) if nutcracker is not None else None
        ports = {"redis": peer.port, **{name: agent.resp_port for name, agent in agents.items()}}
        if proxy is not None:
            ports["proxy"] = proxy.port
        names = [name for name in ("none", "tracking", "cluster", "baseline", "proxy") if name in ports]
        try:
            print(
                "| test | value | pipeline | redis rps | "
                + "".join(f"{name} rps | " for name in names)
                + "tracking/none | tracking/redis | "
                + ("cluster/redis | " if "cluster" in agents else "")
                + ("tracking/baseline | " if "baseline" in agents else "")
                + ("proxy/redis | tracking/proxy | " if proxy is not None else "")
                + f"p99 ms redis / {' / '.join(names)} | p99 tracking/redis |"
                + (" p99 proxy/redis |" if proxy is not None else "")
            )
            columns = 8 + len(names) + ("cluster" in agents) + ("baseline" in agents) + 3 * (proxy is not None)
            print("|---" * columns + "|", flush=True)
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
                        ratios = [rps["tracking"] / rps["none"], rps["tracking"] / rps["redis"]]
                        if "cluster" in agents:
                            ratios.append(rps["cluster"] / rps["redis"])
                        if "baseline" in agents:
                            ratios.append(rps["tracking"] / rps["baseline"])
                        if proxy is not None:
                            ratios += [rps["proxy"] / rps["redis"], rps["tracking"] / rps["proxy"]]
                        print(
                            f"| {test} | {size} B | {pipeline} | {rps['redis']:.0f} | "
                            + "".join(f"{rps[name]:.0f} | " for name in names)
                            + "".join(f"{ratio:.2f} | " for ratio in ratios)
                            + " / ".join(f"{p99[name]:.2f}" for name in ["redis", *names])
                            + f" | {p99['tracking'] / p99['redis']:.2f} |"
                            + (f" {p99['proxy'] / p99['redis']:.2f} |" if proxy is not None else ""),
                            flush=True,
                        )
        finally:
            for agent in agents.values():
                agent.stop()
            if proxy is not None:
                proxy.stop()
            peer.stop()
            l3.stop()


if __name__ == "__main__":
    main()
