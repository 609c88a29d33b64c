"""CacheManager: the seed usage, single-flight, tiers working together, TTLs and stats."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy
import pytest

from memories.errors import CacheError, ConfigError, TierUnavailable, ValueTooLarge
from memories.optimization.cache import CacheManager


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def small_cache(tmp_path: Path, **options: Any) -> CacheManager:
    options.setdefault("l1_size", 4096)
    options.setdefault("l2_size", "1MB")
    return CacheManager(l2_path=tmp_path / "l2", **options)


async def push_out_of_l1(cache: CacheManager, filler: bytes) -> None:
    """Write 30 fillers of 200 bytes: more than a 4 KiB L1 holds."""
    for index in range(30):
        await cache.set(f"filler-{index}", filler * 200)


async def test_seed_usage_runs_with_default_l2_dir_and_no_l3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MEMORIES_L3_URL", raising=False)
    cache_manager = CacheManager(l1_size="1GB", l2_size="10GB", l3_size="100GB", eviction_policy="lru")

    async def compute_analysis() -> dict[str, float]:
        return {"ndvi_mean": 0.42}

    result = await cache_manager.get(key="analysis_result", compute_fn=compute_analysis, ttl="1h")
    assert result == {"ndvi_mean": 0.42}
    assert set(cache_manager.stats().tiers) == {"l1", "l2"}
    assert (tmp_path / "memories" / "cache-l2").is_dir()


class SlowSource:
    """A compute_fn that counts its calls, takes 10 ms, and returns ``result`` or raises it."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(0.01)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def test_compute_fn_runs_once_for_100_concurrent_callers() -> None:
    cache = CacheManager(l1_size="1MB")
    source = SlowSource(b"value")
    results = await asyncio.gather(*(cache.get("key", source) for _ in range(100)))
    assert source.calls == 1
    assert results == [b"value"] * 100


async def test_compute_fn_exception_reaches_every_caller_and_is_not_cached() -> None:
    cache = CacheManager(l1_size="1MB")
    source = SlowSource(RuntimeError("backend down"))
    outcomes = await asyncio.gather(*(cache.get("key", source) for _ in range(10)), return_exceptions=True)
    assert source.calls == 1
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert await cache.get("key", lambda: b"recovered") == b"recovered"


async def test_cancelled_computing_caller_lets_a_waiter_take_over() -> None:
    cache = CacheManager(l1_size="1MB")
    source = SlowSource(b"value")
    leader = asyncio.create_task(cache.get("key", source))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("key", source))
    await asyncio.sleep(0)
    leader.cancel()
    assert await waiter == b"value"
    assert source.calls == 2


async def test_sync_compute_fn_is_supported() -> None:
    cache = CacheManager(l1_size="1MB")
    assert await cache.get("key", lambda: "text") == "text"
    assert cache.get_nowait("key") == "text"


async def test_miss_without_source_returns_none() -> None:
    cache = CacheManager(l1_size="1MB")
    assert await cache.get("absent") is None
    assert cache.stats().misses == 1


async def test_loader_is_used_when_no_compute_fn() -> None:
    async def loader(key: str) -> bytes:
        return key.encode()

    cache = CacheManager(l1_size="1MB", loader=loader)
    assert await cache.get("abc") == b"abc"


async def test_ttl_expires_in_l1_and_l2(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = small_cache(tmp_path, clock=clock)
    await cache.set("key", b"v" * 100, ttl="10s")
    for index in range(40):  # push "key" out of L1 into L2
        await cache.set(f"filler-{index}", b"f" * 100)
    assert cache.stats().tiers["l2"].entries > 0
    assert await cache.get("key") == b"v" * 100
    clock.now += 10
    assert await cache.get("key") is None
    assert not await cache.exists("key")


async def test_get_nowait_only_reads_l1() -> None:
    cache = CacheManager(l1_size="1MB")
    assert cache.get_nowait("key") is CacheManager.MISSING
    await cache.set("key", b"v")
    assert cache.get_nowait(b"key") == b"v"
    assert cache.stats().tiers["l1"].hits == 1
    assert cache.stats().tiers["l1"].misses == 0


async def test_l1_eviction_demotes_to_l2_and_l2_hit_promotes(tmp_path: Path) -> None:
    cache = small_cache(tmp_path)
    await cache.set("first", b"1" * 200)
    await push_out_of_l1(cache, b"f")
    assert cache.get_nowait("first") is CacheManager.MISSING
    assert await cache.get("first") == b"1" * 200
    stats = cache.stats()
    assert stats.tiers["l2"].hits == 1 and stats.tiers["l1"].evictions > 0
    assert cache.get_nowait("first") == b"1" * 200


async def test_l2_survives_restart(tmp_path: Path) -> None:
    first = small_cache(tmp_path)
    await first.set("big", numpy.arange(10_000))  # too large for L1: goes to L2 directly
    await first.close()  # one process per L2 directory: the next starts when this one has stopped
    restarted = small_cache(tmp_path)
    await restarted.start()
    assert restarted.ready
    restored = await restarted.get("big")
    assert numpy.array_equal(restored, numpy.arange(10_000))
    assert len(restarted) == 1


async def test_value_too_large_for_every_tier_raises(tmp_path: Path) -> None:
    cache = small_cache(tmp_path, l2_size=2048)
    with pytest.raises(ValueTooLarge):
        await cache.set("huge", os.urandom(10_000))


async def test_max_value_size_is_enforced() -> None:
    cache = CacheManager(l1_size="1MB", max_value_size=100)
    with pytest.raises(ValueTooLarge):
        await cache.set("key", b"x" * 200)


async def test_unencodable_object_stays_in_l1_only(tmp_path: Path) -> None:
    cache = small_cache(tmp_path, l1_size="1MB")
    marker = object()
    await cache.set("object", marker)
    assert await cache.get("object") is marker
    assert cache.stats().tiers["l2"].entries == 0


async def test_set_replaces_stale_l2_copy(tmp_path: Path) -> None:
    cache = small_cache(tmp_path)
    await cache.set("key", b"old" * 50)
    await push_out_of_l1(cache, b"f")
    await cache.set("key", b"new")
    await push_out_of_l1(cache, b"g")
    assert await cache.get("key") == b"new"


async def test_delete_exists_and_clear(tmp_path: Path) -> None:
    cache = small_cache(tmp_path)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    assert await cache.exists("a")
    assert await cache.delete("a")
    assert not await cache.delete("a")
    await cache.clear()
    assert len(cache) == 0 and not await cache.exists("b")


async def test_expire_persist_and_get_ttl() -> None:
    clock = FakeClock()
    cache = CacheManager(l1_size="1MB", clock=clock)
    await cache.set("key", b"v")
    assert await cache.get_ttl("key") is None
    assert not await cache.persist("key")
    assert await cache.expire("key", "30s")
    assert await cache.get_ttl("key") == 30
    assert await cache.persist("key")
    assert await cache.get_ttl("key") is None
    with pytest.raises(KeyError):
        await cache.get_ttl("absent")
    assert not await cache.expire("absent", 5)


async def test_default_ttl_applies_to_set() -> None:
    clock = FakeClock()
    cache = CacheManager(l1_size="1MB", default_ttl="1m", clock=clock)
    await cache.set("key", b"v")
    assert await cache.get_ttl("key") == 60


async def test_prefetch_is_not_counted_and_is_first_to_go() -> None:
    cache = CacheManager(l1_size="1MB")
    assert await cache.prefetch("key", b"predicted")
    assert cache.stats().hits == 0 and cache.stats().misses == 0
    assert not await cache.prefetch("key", b"again")
    assert cache.get_nowait("key") == b"predicted"


async def test_prefetch_without_value_reads_lower_tiers(tmp_path: Path) -> None:
    first = small_cache(tmp_path)
    await first.set("key", b"on disk" * 1000)  # larger than L1: stored in L2 only
    await first.close()
    cache = small_cache(tmp_path, l1_size="1MB")
    assert await cache.prefetch("key")
    assert cache.get_nowait("key") == b"on disk" * 1000
    assert cache.stats().tiers["l2"].hits == 0


async def test_prefetch_never_displaces_read_entries(tmp_path: Path) -> None:
    cache = small_cache(tmp_path, l2_size=None)
    for index in range(30):
        await cache.set(f"hot-{index}", b"h" * 50)
        await cache.get(f"hot-{index}")
    resident = {f"hot-{index}" for index in range(30) if cache.get_nowait(f"hot-{index}") is not CacheManager.MISSING}
    assert not await cache.prefetch("predicted", b"p" * 50)
    assert all(cache.get_nowait(key) is not CacheManager.MISSING for key in resident)


async def test_stats_hit_rate_counts_gets() -> None:
    cache = CacheManager(l1_size="1MB")
    await cache.get("key", lambda: b"v")
    await cache.get("key")
    await cache.get("key")
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (2, 1)
    assert stats.hit_rate == pytest.approx(2 / 3)
    assert stats.tiers["l1"].hit_rate == pytest.approx(2 / 3)


async def test_l3_shares_values_between_managers(redis_url: str, tmp_path: Path) -> None:
    writer = CacheManager(l1_size="1MB", l3_size="10MB", l3_url=redis_url, l3_prefix="test-share:")
    reader = CacheManager(l1_size="1MB", l3_size="10MB", l3_url=redis_url, l3_prefix="test-share:")
    await writer.set("shared", {"answer": 42}, ttl="1m")
    assert await reader.get("shared") == {"answer": 42}
    assert reader.stats().tiers["l3"].hits == 1
    ttl = await reader.get_ttl("shared")
    assert ttl is not None and 50 < ttl <= 60
    await writer.clear()
    await writer.close()
    await reader.close()


async def test_l3_url_from_environment(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMORIES_L3_URL", redis_url)
    cache = CacheManager(l1_size="1MB", l3_size="10MB")
    assert "l3" in cache.stats().tiers
    await cache.close()


async def test_l3_down_computes_reads_and_refuses_writes() -> None:
    cache = CacheManager(l1_size="1MB", l3_size="10MB", l3_url="redis://127.0.0.1:1/0")
    assert await cache.get("key", lambda: b"computed") == b"computed"  # computed, not stored
    with pytest.raises(TierUnavailable, match="l3"):
        await cache.get("key")  # without a source the cache cannot say "absent"
    with pytest.raises(TierUnavailable, match="l3"):
        await cache.set("key", b"value")  # a write L3 did not acknowledge is not acknowledged
    assert cache.get_nowait("key") is CacheManager.MISSING
    assert cache.stats().tiers["l3"].errors == 3
    await cache.close()


async def test_operations_after_close_raise() -> None:
    cache = CacheManager(l1_size="1MB")
    await cache.close()
    with pytest.raises(CacheError):
        await cache.set("key", b"v")


@pytest.mark.parametrize(
    "options",
    [{"l1_size": "lots"}, {"eviction_policy": "fifo"}, {"l2_size": 0}, {"default_ttl": "-1s"}, {"l1_size": 0}],
)
def test_bad_configuration_raises_config_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CacheManager(**options)


async def test_counting_keys_does_not_walk_them(tmp_path: Path) -> None:
    cache = small_cache(tmp_path, l1_size="64MB", l2_size="64MB")
    for index in range(200_000):
        cache._local.install(f"key-{index}", b"v", None)  # fill L1 fast, past the async write path
    started = time.perf_counter()
    counts = {len(cache) for _ in range(1000)}
    assert counts == {200_000}
    assert time.perf_counter() - started < 0.5  # a walk of 200 000 keys takes ~20 ms, a thousand of them ~20 s
