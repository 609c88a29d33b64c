"""Pool benchmark: MemoryPool and ObjectPool against the naive alternatives, side by side in one run.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/memory_pool.py [--operations 200000] [--runs 5]

Memory: one allocate + release cycle of a block of each size, through
``MemoryPool.allocate_nowait/release_nowait`` (sync fast path), ``await allocate/release``
(the seed's API), a fresh ``bytearray(size)`` dropped at once, and a bare memoryview slice of an
mmap (what a pool does without any bookkeeping). Objects: ``async with ObjectPool.acquire()``
against an ``asyncio.Queue`` of objects and against creating the object each time.
Prints median operations per second over ``--runs`` runs and the ratio to the pool.
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import statistics
import time
from collections.abc import Awaitable, Callable

from memories.optimization.pools import MemoryPool, ObjectPool

SIZES = (4096, 65536)


def rate(operations: int, run: Callable[[int], None]) -> float:
    started = time.perf_counter()
    run(operations)
    return operations / (time.perf_counter() - started)


def async_rate(operations: int, run: Callable[[int], Awaitable[None]]) -> float:
    async def timed() -> float:
        started = time.perf_counter()
        await run(operations)
        return operations / (time.perf_counter() - started)

    return asyncio.run(timed())


def memory_contenders(size: int) -> dict[str, Callable[[int], float]]:
    pool = MemoryPool(block_sizes=[4096, 16384, 65536], total_size="64MB")
    arena = mmap.mmap(-1, 1 << 20)
    arena_view = memoryview(arena)

    def pool_sync(count: int) -> None:
        allocate, release = pool.allocate_nowait, pool.release_nowait
        for _ in range(count):
            release(allocate(size))

    async def pool_async(count: int) -> None:
        for _ in range(count):
            await pool.release(await pool.allocate(size))

    def fresh_bytearray(count: int) -> None:
        for _ in range(count):
            bytearray(size)

    def mmap_slice(count: int) -> None:
        for _ in range(count):
            arena_view[4096 : 4096 + size].release()

    return {
        "MemoryPool allocate_nowait+release_nowait": lambda count: rate(count, pool_sync),
        "MemoryPool await allocate+release": lambda count: async_rate(count, pool_async),
        f"bytearray({size})": lambda count: rate(count, fresh_bytearray),
        "mmap memoryview slice + release": lambda count: rate(count, mmap_slice),
    }


class Expensive:
    """Stand-in object whose construction costs a little (a 4 KiB buffer and a dict)."""

    def __init__(self) -> None:
        self.buffer = bytearray(4096)
        self.settings = {str(index): index for index in range(32)}


def object_contenders() -> dict[str, Callable[[int], float]]:
    async def object_pool(count: int) -> None:
        pool = ObjectPool(Expensive, initial_size=4, max_size=4)
        for _ in range(count):
            async with pool.acquire():
                pass
        await pool.close()

    async def asyncio_queue(count: int) -> None:
        queue: asyncio.Queue[Expensive] = asyncio.Queue()
        for _ in range(4):
            queue.put_nowait(Expensive())
        for _ in range(count):
            item = await queue.get()
            queue.put_nowait(item)

    async def create_each_time(count: int) -> None:
        for _ in range(count):
            Expensive()

    return {
        "ObjectPool async with acquire()": lambda count: async_rate(count, object_pool),
        "asyncio.Queue get/put": lambda count: async_rate(count, asyncio_queue),
        "create the object each time": lambda count: async_rate(count, create_each_time),
    }


def report(title: str, contenders: dict[str, Callable[[int], float]], operations: int, runs: int) -> None:
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):  # interleave contenders so machine noise hits all of them alike
        for name, measure in contenders.items():
            results[name].append(measure(operations))
    medians = {name: statistics.median(values) for name, values in results.items()}
    reference = next(iter(medians.values()))
    print(f"\n### {title}\n\n| contender | median ops/s | vs first row |\n| --- | ---: | ---: |")
    for name, median in medians.items():
        print(f"| {name} | {median:,.0f} | {median / reference:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=200_000, help="cycles per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per contender (median reported)")
    arguments = parser.parse_args()
    for size in SIZES:
        report(f"allocate + release, {size} bytes", memory_contenders(size), arguments.operations, arguments.runs)
    report("acquire + release of a pooled object", object_contenders(), arguments.operations, arguments.runs)


if __name__ == "__main__":
    main()
