"""Benchmark: how long after a write is acknowledged on agent A does agent B stop serving the old value?

Two agents (``CacheManager`` with L3, coherence tracking) in two processes share one redis-server. B first reads
every key, so it holds a local copy of each; then A overwrites the keys at a fixed rate (1k and 10k writes/s by
default), recording when each write was acknowledged. B records when each invalidation removed its copy (after
which it can no longer serve the old value). Latency = B's removal - A's acknowledgement, both on the host's
clock (negative: B dropped its copy before A even had its reply). Reports p50, p99 and max over ``--runs`` runs.

    .venv/bin/python bench/coherence_latency.py [--rates 1000 10000] [--seconds 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import redis

from memories.local_processes import free_port
from memories.optimization.cache import CacheManager
from memories.optimization.cache.remote.settings import RemoteSettings

PREFIX = "latency:"


def cache_for(url: str) -> CacheManager:
    return CacheManager("256MB", l3=RemoteSettings.from_url(url, prefix=PREFIX))


def reader(url: str, keys: int, pipe: Connection) -> None:
    """Agent B: hold a copy of every key, then note when each copy is invalidated."""

    async def run() -> None:
        cache = cache_for(url)
        await cache.start()
        removed: dict[str, float] = {}
        invalidated = cache._guard.invalidated  # the bench watches the agent's own handler, without changing it

        def watch(names: list[str] | None) -> None:
            invalidated(names)
            now = time.time()
            for name in names or []:
                removed.setdefault(name, now)

        assert cache._l3 is not None
        cache._l3._on_invalidate = watch
        for index in range(keys):
            await cache.get(f"k{index}")
        pipe.send("ready")
        while len(removed) < keys and pipe.poll() is False:  # noqa: ASYNC110  # a pipe, not an event
            await asyncio.sleep(0.05)
        pipe.send(removed)
        await cache.close()

    asyncio.run(run())


async def write_at(url: str, keys: int, rate: float) -> dict[str, float]:
    """Agent A: overwrite every key at ``rate`` writes/s; returns each key's acknowledgement time."""
    cache = cache_for(url)
    await cache.start()
    acknowledged: dict[str, float] = {}

    async def write(index: int) -> None:
        await cache.set(f"k{index}", b"new value %d" % index)
        acknowledged[f"k{index}"] = time.time()

    started = time.monotonic()
    tasks = []
    for index in range(keys):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(write(index)))
    await asyncio.gather(*tasks)
    achieved = keys / (time.monotonic() - started)
    await cache.close()
    print(f"  writer: {keys} writes at {achieved:.0f}/s (asked {rate:.0f}/s)", flush=True)
    return acknowledged


def one_run(url: str, rate: float, seconds: float) -> list[float]:
    keys = int(rate * seconds)
    seed = redis.Redis.from_url(url)
    seed.flushall()
    pipeline = seed.pipeline(transaction=False)
    for index in range(keys):
        pipeline.set(f"{PREFIX}k{index}", b"old value")
    pipeline.execute()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=reader, args=(url, keys, child))
    process.start()
    assert parent.recv() == "ready"
    acknowledged = asyncio.run(write_at(url, keys, rate))
    time.sleep(1.0)
    parent.send("stop")
    removed: dict[str, float] = parent.recv()
    process.join(30)
    missing = [key for key in acknowledged if key not in removed]
    if missing:
        raise SystemExit(f"{len(missing)} copies were never invalidated (e.g. {missing[:3]})")
    return [(removed[key] - acknowledged[key]) * 1000 for key in acknowledged]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 10000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(Path(directory))],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if redis.Redis(port=port).ping():
                        break
                except redis.ConnectionError:
                    time.sleep(0.05)
            print("| writes/s | p50 ms | p99 ms | max ms | runs (p99) |\n|---|---|---|---|---|")
            for rate in arguments.rates:
                runs = [one_run(url, rate, arguments.seconds) for _ in range(arguments.runs)]
                p50 = statistics.median(percentile(run, 0.5) for run in runs)
                p99 = statistics.median(percentile(run, 0.99) for run in runs)
                worst = max(max(run) for run in runs)
                each = ", ".join(f"{percentile(run, 0.99):.2f}" for run in runs)
                print(f"| {rate:.0f} | {p50:.2f} | {p99:.2f} | {worst:.2f} | {each} |", flush=True)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
