"""Benchmark: hostile clients beside 50 active ones (issue 11's target), the agent and redis-server side by side.

For each server, alternated for ``--runs`` rounds: ``redis-benchmark -t set,get -c 50 -d 100`` alone, then again
while 1,000 idle connections are open and one client pipelines GETs of a 16 KiB value and never reads a reply
(reconnecting whenever the server closes it, as a hostile client would). Reports the medians of the throughput
with and without the hostile clients and their ratio (target ≥ 0.9), and the server's RSS growth during the
hostile run against its output limit (target: at most the limit + 64 MiB), and its CPU time per command in both
runs (the steadier figure when the machine is shared). redis-server runs with
``client-output-buffer-limit normal <limit> 0 0``, the agent with ``server.limits.maxOutputBuffer: <limit>``.

    .venv/bin/python bench/sidecar_hostile.py [--runs 3] [--scale 1.0] [--limit-mib 64]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
from sidecar_resp import RedisServer, Sidecar, redis_benchmark

IDLE_CONNECTIONS = 1000
HOSTILE_VALUE_BYTES = 16 * 1024
MIB = 1024 * 1024


@dataclass
class Hostility:
    """What the hostile clients did during one run."""

    sent_bytes: int = 0
    closed_by_server: int = 0
    peak_rss_growth: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def never_reading_client(port: int, hostility: Hostility) -> None:
    """Pipeline GETs of the big value without reading; reconnect when the server closes the connection."""
    burst = b"GET hostile:big\r\n" * 4096
    while not hostility.stop.is_set():
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.settimeout(0.5)
            while not hostility.stop.is_set():
                try:
                    hostility.sent_bytes += client.send(burst)
                except TimeoutError:
                    continue  # the server stopped reading: keep trying, as a hostile client would
                except OSError:
                    hostility.closed_by_server += 1
                    break


def sample_rss(pid: int, baseline: int, hostility: Hostility) -> None:
    process = psutil.Process(pid)
    while not hostility.stop.wait(0.05):
        hostility.peak_rss_growth = max(hostility.peak_rss_growth, process.memory_info().rss - baseline)


@contextmanager
def hostile_clients(port: int, pid: int) -> Iterator[Hostility]:
    """1,000 idle connections and one never-reading client on ``port``, and RSS sampling of ``pid``."""
    redis.Redis(port=port).set("hostile:big", b"x" * HOSTILE_VALUE_BYTES)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_CONNECTIONS)]
    hostility = Hostility()
    baseline = psutil.Process(pid).memory_info().rss
    threads = [
        threading.Thread(target=never_reading_client, args=(port, hostility), daemon=True),
        threading.Thread(target=sample_rss, args=(pid, baseline, hostility), daemon=True),
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)  # let the never-reading client fill what it can
    try:
        yield hostility
    finally:
        hostility.stop.set()
        for thread in threads:
            thread.join(10)
        for connection in idle:
            connection.close()


def throughput(port: int, pid: int, requests: int) -> dict[str, float]:
    """SET and GET rps of one redis-benchmark call, and the server's CPU time per command in µs (steadier than
    rps on a shared machine)."""
    process = psutil.Process(pid)
    before = process.cpu_times()
    results = redis_benchmark(port, 100, 1, requests)
    after = process.cpu_times()
    cpu_seconds = (after.user - before.user) + (after.system - before.system)
    rates = {test: results[test]["rps"] for test in ("SET", "GET")}
    return {**rates, "cpu": cpu_seconds / (2 * requests) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="alternated rounds per server (medians are reported)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 requests per benchmark")
    parser.add_argument("--limit-mib", type=int, default=64, help="the output limit of both servers, MiB")
    arguments = parser.parse_args()
    requests = int(100_000 * arguments.scale)
    limit = f"{arguments.limit_mib}mb"
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="memories-bench-hostile-") as directory:
        workdir = Path(directory)
        servers: dict[str, RedisServer | Sidecar] = {
            "redis-server": RedisServer(workdir, ["--client-output-buffer-limit", f"normal {limit} 0 0"]),
            "agent": Sidecar(workdir, limits={"maxOutputBuffer": f"{arguments.limit_mib}Mi"}),
        }
        try:
            for round_number in range(arguments.runs):
                for name, server in servers.items():
                    port = server.port if isinstance(server, RedisServer) else server.resp_port
                    pid = server.process.pid
                    alone = throughput(port, pid, requests)
                    with hostile_clients(port, pid) as hostility:
                        beside = throughput(port, pid, requests)
                    row = rows.setdefault(name, {})
                    for test in ("SET", "GET"):
                        row.setdefault(f"{test} alone", []).append(alone[test])
                        row.setdefault(f"{test} hostile", []).append(beside[test])
                        row.setdefault(f"{test} ratio", []).append(beside[test] / alone[test])
                    row.setdefault("µs CPU/command alone", []).append(alone["cpu"])
                    row.setdefault("µs CPU/command hostile", []).append(beside["cpu"])
                    row.setdefault("rss growth MiB", []).append(hostility.peak_rss_growth / MIB)
                    row.setdefault("closed", []).append(hostility.closed_by_server)
                    row.setdefault("sent MiB", []).append(hostility.sent_bytes / MIB)
                    print(
                        f"round {round_number + 1}/{arguments.runs} {name}: "
                        + ", ".join(f"{key} {values[-1]:.2f}" for key, values in row.items()),
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
    columns = ["SET alone", "SET hostile", "SET ratio", "GET alone", "GET hostile", "GET ratio"]
    columns += ["µs CPU/command alone", "µs CPU/command hostile", "rss growth MiB", "closed", "sent MiB"]
    print(f"| server | {' | '.join(columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(row[column]):.2f}" for column in columns) + " |")
    print(f"\noutput limit {arguments.limit_mib} MiB; target RSS growth ≤ {arguments.limit_mib + 64} MiB")


if __name__ == "__main__":
    main()
