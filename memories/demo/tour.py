"""Runs every part of the engine once on the embedded dataset and reports what each achieved."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from memories.demo.dataset import satellite_tile, sensor_log
from memories.optimization import (
    CacheManager,
    Deduplicator,
    MemoryCompressor,
    MemoryPool,
    ObjectPool,
    PerformanceMonitor,
)
from memories.units import format_size


@dataclass(frozen=True)
class TourResult:
    """One line of the demo's report."""

    part: str
    outcome: str
    seconds: float


Progress = Callable[[str], None]


async def _compression(data: bytes) -> str:
    compressor = MemoryCompressor(algorithm="lz4", level=6, chunk_size="1MB")
    compressed = await compressor.compress(data=data, metadata=True)
    restored = await compressor.decompress(compressed)
    if restored != data:
        raise AssertionError("lz4 round trip changed the data")
    return (
        f"lz4 level 6: {format_size(len(data))} -> {format_size(compressed.compressed_size)} ({compressed.ratio:.1f}x)"
    )


async def _lossy(tile_size: int) -> str:
    compressor = MemoryCompressor(algorithm="jpeg2000", quality=85, target_size="64KB")
    result = await compressor.compress_images(images=[satellite_tile(tile_size)], preserve_metadata=True)
    image = result.images[0]
    return f"JPEG 2000 q85: {image.ratio:.1f}x at {image.psnr_db:.1f} dB PSNR"


async def _dedup(data: bytes) -> str:
    # Content-defined chunking: an edit shifts only nearby block boundaries, so both versions share the rest.
    dedup = Deduplicator(block_size="4KB", hash_algorithm="xxhash", chunking="cdc")
    await dedup.process(data=data, track_savings=True)
    await dedup.process(data=data[: len(data) // 2] + b"edited" + data[len(data) // 2 :], track_savings=True)
    metrics = dedup.get_metrics()
    return (
        f"two versions of the log: dedup ratio {metrics.dedup_ratio:.2f}, {metrics.space_saved_gb * 1024:.1f} MiB saved"
    )


async def _cache(directory: Path) -> str:
    cache_manager = CacheManager(l1_size="1MB", l2_size="64MB", eviction_policy="s3fifo", l2_path=directory)
    calls = 0

    async def compute_analysis() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return b"x" * 4096

    try:
        for round_number in range(3):
            for key_number in range(400):
                await cache_manager.get(key=f"analysis-{key_number}", compute_fn=compute_analysis, ttl="1h")
            if round_number == 0:
                first_round_calls = calls
        stats = cache_manager.stats()
    finally:
        await cache_manager.close()
    tiers = ", ".join(f"{name} {tier.hit_rate:.0%}" for name, tier in stats.tiers.items())
    return f"{first_round_calls} computations then {calls - first_round_calls} more; hit rate by tier: {tiers}"


async def _pools() -> str:
    memory_pool = MemoryPool(block_sizes=[4096, 16384, 65536], total_size="8MB")
    blocks = [await memory_pool.allocate(size=3000 + index * 1000) for index in range(20)]
    utilization = memory_pool.stats().utilization
    for block in blocks:
        await memory_pool.release(block)
    memory_pool.close()
    pool = ObjectPool(factory=lambda: bytearray(1024), initial_size=2, max_size=4)
    for _ in range(100):
        async with pool.acquire() as buffer:
            buffer[0] = 1
    created = pool.stats().created
    await pool.close()
    return f"20 blocks at {utilization:.1%} arena utilization; 100 acquisitions served by {created} objects"


def _monitor() -> str:
    monitor = PerformanceMonitor(sampling_interval="1s", metrics=["memory", "cpu", "io"])
    monitor.start()
    try:
        metrics = monitor.get_metrics()
    finally:
        monitor.stop()
    return (
        f"memory {metrics.memory_usage_percent:.1f}% ({metrics.source}), cpu {metrics.cpu_percent:.1f}%, "
        f"io wait {metrics.io_wait_ms:.1f} ms"
    )


async def run_tour(records: int, progress: Progress) -> list[TourResult]:
    """Run each part in turn, calling ``progress`` before each; returns one result per part."""
    data = sensor_log(records)
    results: list[TourResult] = []

    async def timed(part: str, step: Callable[[], object]) -> None:
        progress(part)
        started = time.perf_counter()
        outcome = step()
        text = await outcome if asyncio.iscoroutine(outcome) else outcome
        results.append(TourResult(part, str(text), time.perf_counter() - started))

    with tempfile.TemporaryDirectory(prefix="memories-demo-") as directory:
        await timed("compression", lambda: _compression(data))
        await timed("lossy imagery", lambda: _lossy(128))
        await timed("deduplication", lambda: _dedup(data))
        await timed("multi-level cache", lambda: _cache(Path(directory)))
        await timed("pools", _pools)
        await timed("monitor", _monitor)
    return results
