"""L1 speed and memory: CacheManager vs a plain dict and an OrderedDict LRU, in one run.

Run: .venv/bin/python bench/cache_l1.py [--keys 100000] [--rounds 5] [--payload-mib 1024]

ops/s: ``get_nowait`` (the sidecar's sync fast path) and ``await set`` of 100-byte values,
median of ``--rounds``; the peers do the same get/set on a dict and on an OrderedDict LRU
(functools.lru_cache-style: move_to_end on hit, popitem when full). The cache's L1 is sized to
hold every key (LRU policy), so no eviction happens in the timed loops, as with the peers.
Memory: each store is filled with ``--payload-mib`` of 4 KiB values in a fresh subprocess;
RSS growth (bytes) per GiB of payload is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

import psutil

from memories.optimization.cache import CacheManager

VALUE = b"v" * 100


class OrderedDictLru:
    """The usual hand-written LRU: an OrderedDict with move_to_end and popitem."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def set(self, key: str, value: bytes) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        if len(self.data) > self.capacity:
            self.data.popitem(last=False)


def rate(operations: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return operations / (time.perf_counter() - started)


def measure_round(keys: list[str]) -> dict[str, float]:
    plain: dict[str, bytes] = {}
    lru = OrderedDictLru(len(keys))
    cache = CacheManager(l1_size="1GB", eviction_policy="lru")
    loop = asyncio.new_event_loop()

    async def cache_sets() -> None:
        for key in keys:
            await cache.set(key, VALUE)

    def dict_sets() -> None:
        for key in keys:
            plain.__setitem__(key, VALUE)  # a method call per key, as the other peers make

    def lru_sets() -> None:
        for key in keys:
            lru.set(key, VALUE)

    results = {
        "dict set": rate(len(keys), dict_sets),
        "dict get": rate(len(keys), lambda: [plain.get(key) for key in keys]),
        "OrderedDict LRU set": rate(len(keys), lru_sets),
        "OrderedDict LRU get": rate(len(keys), lambda: [lru.get(key) for key in keys]),
        "CacheManager set": rate(len(keys), lambda: loop.run_until_complete(cache_sets())),
        "CacheManager get_nowait": rate(len(keys), lambda: [cache.get_nowait(key) for key in keys]),
    }
    loop.close()
    return results


FILL_SCRIPT = """
import asyncio, sys, gc, psutil
from memories.optimization.cache import CacheManager
kind, count = sys.argv[1], int(sys.argv[2])
process = psutil.Process()
gc.collect()
before = process.memory_info().rss
if kind == "dict":
    store = {}
    for index in range(count):
        store[f"key-{index:09d}"] = index.to_bytes(8, "little") * 512
else:
    cache = CacheManager(l1_size="2GB", eviction_policy=kind)
    async def fill():
        for index in range(count):
            await cache.set(f"key-{index:09d}", index.to_bytes(8, "little") * 512)
    asyncio.run(fill())
    assert cache.stats().tiers["l1"].entries == count
print(process.memory_info().rss - before)
"""


def rss_growth(kind: str, payload_bytes: int) -> int:
    count = payload_bytes // 4096
    output = subprocess.run(
        [sys.executable, "-c", FILL_SCRIPT, kind, str(count)], check=True, capture_output=True, text=True
    ).stdout
    return int(output.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--payload-mib", type=int, default=1024)
    arguments = parser.parse_args()
    keys = [f"key-{index:09d}" for index in range(arguments.keys)]
    rounds = [measure_round(keys) for _ in range(arguments.rounds)]
    medians = {name: statistics.median(result[name] for result in rounds) for name in rounds[0]}
    print(f"ops/s, median of {arguments.rounds} rounds of {arguments.keys:,} operations (100-byte values)")
    print("| operation | ops/s | CacheManager / this |")
    print("|---|---|---|")
    for name, value in medians.items():
        mine = medians["CacheManager " + ("get_nowait" if "get" in name else "set")]
        print(f"| {name} | {value:,.0f} | {mine / value:.2f} |")
    payload = arguments.payload_mib * 1024 * 1024
    print(f"\nRSS growth per GiB of payload ({arguments.payload_mib} MiB of 4 KiB values, fresh process each)")
    print("| store | RSS growth (bytes) | bytes per GiB of payload | overhead |")
    print("|---|---|---|---|")
    for kind in ("dict", "lru", "s3fifo"):
        growth = rss_growth(kind, payload)
        per_gib = growth * (1 << 30) / payload
        print(
            f"| {'plain dict' if kind == 'dict' else 'CacheManager ' + kind} | {growth:,} | {per_gib:,.0f} |"
            f" {per_gib / (1 << 30) - 1:+.1%} |",
            flush=True,
        )
    print(f"(host: {psutil.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
