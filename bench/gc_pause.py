"""Benchmark: the cyclic garbage collector's pauses with a full L1, in process and in the agent under redis-benchmark.

CPython runs a full collection whenever the objects promoted to its oldest generation since the last one reach a
quarter of that generation, and a full collection walks every object the collector knows. This measures, for this
checkout and optionally a ``--baseline`` interpreter (another checkout's virtualenv):

* in process, in a fresh interpreter each: the time of ``gc.collect()`` (median of 5) with ``--keys`` 100-byte
  entries in a CacheManager's L1 (LRU), the objects the collector tracks, and the same for the peers a user would
  write instead, a dict and an OrderedDict LRU of the same keys and values;
* in the agent: ``redis-benchmark -t set -r <keys> -d 100 -c 50`` writing ``2 × --keys`` SETs of random keys into an
  L1 large enough for all of them; its max and p99 latency show the event loop's pauses, side by side with
  redis-server in the same run.

    .venv/bin/python bench/gc_pause.py [--keys 1000000] [--baseline /path/to/other/.venv/bin/python]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sidecar_resp import RedisServer, Sidecar

IN_PROCESS = r"""
import asyncio, collections, gc, json, statistics, sys, time
from memories.optimization.cache import CacheManager
keys = [f"key:{index:012d}" for index in range(int(sys.argv[1]))]
value = b"v" * 100

def pause() -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3

async def cache() -> object:
    manager = CacheManager(f"{len(keys) * 600}B")
    for key in keys:
        await manager.set(key, value)
    return manager

results = {}
for name, build in (
    ("CacheManager L1", lambda: asyncio.run(cache())),
    ("dict", lambda: {key: value for key in keys}),
    ("OrderedDict LRU", lambda: collections.OrderedDict((key, value) for key in keys)),
):
    store = build()
    results[name] = {"ms": pause(), "tracked": len(gc.get_objects())}
    del store
    gc.collect()
print(json.dumps(results))
"""


def in_process(python: str, keys: int, workdir: Path) -> dict[str, dict[str, float]]:
    """gc.collect() milliseconds and tracked objects per store, in a fresh ``python``."""
    output = subprocess.run(
        [python, "-c", IN_PROCESS, str(keys)], capture_output=True, text=True, check=True, cwd=workdir, timeout=1800
    ).stdout
    result: dict[str, dict[str, float]] = json.loads(output)
    return result


def set_latency(port: int, keys: int) -> dict[str, float]:
    """rps, p99 and max latency (ms) of 2 × ``keys`` SETs of random keys among ``keys``."""
    command = ["redis-benchmark", "-p", str(port), "-t", "set", "-c", "50", "-d", "100", "-r", str(keys)]
    command += ["-n", str(2 * keys), "--csv"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800).stdout
    row = next(csv.DictReader(io.StringIO(output)))
    return {"rps": float(row["rps"]), "p99 ms": float(row["p99_latency_ms"]), "max ms": float(row["max_latency_ms"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000, help="distinct keys (100-byte values)")
    parser.add_argument("--runs", type=int, default=3, help="redis-benchmark rounds per server (medians reported)")
    parser.add_argument("--baseline", help="another checkout's interpreter, measured the same way")
    arguments = parser.parse_args()
    pythons = {"this checkout": sys.executable}
    if arguments.baseline:
        pythons = {"baseline": arguments.baseline, **pythons}
    with tempfile.TemporaryDirectory(prefix="memories-bench-gc-") as directory:
        workdir = Path(directory)
        print(f"gc.collect() with {arguments.keys:,} entries of 100 B (median of 5), fresh interpreter each")
        print("| interpreter | store | full collection ms | objects the collector tracks |")
        print("|---|---|---|---|")
        for name, python in pythons.items():
            for store, result in in_process(python, arguments.keys, workdir).items():
                print(f"| {name} | {store} | {result['ms']:.1f} | {result['tracked']:,.0f} |", flush=True)
        l1_bytes = arguments.keys * 700
        servers: dict[str, RedisServer | Sidecar] = {"redis-server": RedisServer(workdir)}
        for name, python in pythons.items():
            servers[f"agent ({name})"] = Sidecar(workdir, cache={"l1Size": f"{l1_bytes}B"}, python=python)
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        try:
            for _ in range(arguments.runs):
                for name, server in servers.items():
                    port = server.port if isinstance(server, RedisServer) else server.resp_port
                    rows[name].append(set_latency(port, arguments.keys))
        finally:
            for server in servers.values():
                server.stop()
    print(
        f"\nredis-benchmark -t set -r {arguments.keys} -n {2 * arguments.keys} -c 50 -d 100, medians of {arguments.runs}"
    )
    print("| server | rps | p99 ms | max ms | max of each run |")
    print("|---|---|---|---|---|")
    for name, results in rows.items():
        medians = {key: statistics.median(result[key] for result in results) for key in results[0]}
        each = ", ".join(f"{result['max ms']:.0f}" for result in results)
        print(f"| {name} | {medians['rps']:,.0f} | {medians['p99 ms']:.2f} | {medians['max ms']:.1f} | {each} |")


if __name__ == "__main__":
    main()
