"""Deduplicator throughput, side by side with the raw XXH3-128 hashing ceiling.

Input: an in-memory buffer of ``--size`` bytes made of 1 MiB segments, half fresh random
bytes and half copies of earlier segments (so about 50% of the bytes are duplicates; the
expected dedup ratio is ~2). Each mode processes the whole buffer into a fresh in-memory
store; the figure is the median of ``--runs`` runs. The reference is one
``xxhash.xxh3_128_digest`` call over the same buffer: the speed of hashing alone, which no
deduplicator built on XXH3-128 can beat.

    .venv/bin/python bench/dedup.py --size 256MB --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import xxhash

from memories.optimization import Deduplicator
from memories.optimization.dedup import chunking
from memories.optimization.dedup.directory_store import DirectoryBlockStore
from memories.optimization.dedup.hashing import hasher_named
from memories.units import parse_size

SEGMENT_BYTES = 1024 * 1024


def make_input(size: int, seed: int = 0) -> bytes:
    """Return ``size`` bytes where about half of the 1 MiB segments repeat earlier ones."""
    rng = np.random.default_rng(seed)
    segment_count = max(1, size // SEGMENT_BYTES)
    fresh_count = (segment_count + 1) // 2
    fresh = rng.integers(0, 256, (fresh_count, SEGMENT_BYTES), dtype=np.uint8)
    order = np.concatenate((np.arange(fresh_count), rng.integers(0, fresh_count, segment_count - fresh_count)))
    rng.shuffle(order[1:])
    return fresh[order].tobytes()[:size]


def median_seconds(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    """Return the median wall-clock seconds and median CPU seconds (all threads) of ``action``."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


async def restores_exactly(dedup: Deduplicator, name: str, expected: bytes) -> bool:
    """Whether ``name`` restores to ``expected``: the bytes are compared inside the coroutine, because
    ``asyncio.run`` of a coroutine returning them builds their repr twice on CPython 3.11.7 (cpython#112559:
    ~1 s for 64 MiB, which the restore figure measured before)."""
    return await dedup.restore(name) == expected


def run_dedup(data: bytes, chunking: str, store_path: str | None = None) -> Deduplicator:
    dedup = Deduplicator("4KB", "xxhash", chunking=chunking, store_path=store_path)
    asyncio.run(dedup.process(data, name="bench"))
    return dedup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="256MB", help="input size (default 256MB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--disk-size", default="32MB", help="input size for the on-disk store run (0 to skip)")
    arguments = parser.parse_args()
    size = parse_size(arguments.size, field="--size", allow_zero=False)
    data = make_input(size)
    gigabytes = size / 1e9

    ceiling, ceiling_cpu = median_seconds(arguments.runs, lambda: xxhash.xxh3_128_digest(data))
    print(f"input: {size} bytes ({arguments.size}), ~50% duplicate 1 MiB segments; median of {arguments.runs} runs")
    print("| what | wall s | GB/s (wall) | CPU s | GB per CPU-second | vs raw XXH3-128 (wall) | dedup ratio |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| raw xxh3_128 over the buffer, one call | {ceiling:.3f} | {gigabytes / ceiling:.2f} | {ceiling_cpu:.3f} "
        f"| {gigabytes / ceiling_cpu:.2f} | 1.000 | - |"
    )
    array = np.frombuffer(data, dtype=np.uint8)
    for compiled in (True, False) if chunking.COMPILED else (False,):
        seconds, cpu = median_seconds(
            arguments.runs, functools.partial(chunking.cdc_boundaries, array, 4096, compiled=compiled)
        )
        label = "C (_fastcdc)" if compiled else "numpy"
        print(
            f"| FastCDC 4 KiB cut points alone, {label} | {seconds:.3f} | {gigabytes / seconds:.2f} | {cpu:.3f} "
            f"| {gigabytes / cpu:.2f} | {ceiling / seconds:.3f} | - |"
        )
    for mode in ("fixed", "cdc"):
        seconds, cpu = median_seconds(arguments.runs, functools.partial(run_dedup, data, mode))
        ratio = run_dedup(data, mode).get_metrics().dedup_ratio
        print(
            f"| Deduplicator 4 KiB {mode}, in memory | {seconds:.3f} | {gigabytes / seconds:.2f} | {cpu:.3f} "
            f"| {gigabytes / cpu:.2f} | {ceiling / seconds:.3f} | {ratio:.3f} |"
        )
    disk_size = parse_size(arguments.disk_size, field="--disk-size")
    if disk_size:
        disk_data = data[:disk_size]
        for layout in ("pack store", "one file per block (older layout)"):
            with tempfile.TemporaryDirectory(dir=".") as directory:
                if layout != "pack store":
                    DirectoryBlockStore(directory, hasher_named("xxhash")).close()
                start = time.perf_counter()
                dedup = run_dedup(disk_data, "fixed", store_path=directory)
                seconds = time.perf_counter() - start
                start = time.perf_counter()
                assert asyncio.run(restores_exactly(dedup, "bench", disk_data))
                restore_seconds = time.perf_counter() - start
                dedup.close()
            print(
                f"| Deduplicator 4 KiB fixed, {layout} ({arguments.disk_size}, one run; restore "
                f"{disk_size / 1e9 / restore_seconds:.2f} GB/s) | {seconds:.3f} "
                f"| {disk_size / 1e9 / seconds:.2f} | - | - | - | - |"
            )


if __name__ == "__main__":
    main()
