"""CacheManager's synchronous fast path: set_nowait and lookup_nowait."""

from __future__ import annotations

from pathlib import Path

import pytest

from memories.errors import ConfigError, ValueTooLarge
from memories.optimization.cache import CacheManager


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_set_nowait_stores_in_l1_and_get_reads_it() -> None:
    cache = CacheManager(l1_size="1MB")
    assert cache.set_nowait(b"key", b"value") is True
    assert cache.get_nowait("key") == b"value"
    assert await cache.get("key") == b"value"


def test_set_nowait_stores_bytearray_as_bytes() -> None:
    cache = CacheManager(l1_size="1MB")
    cache.set_nowait("key", bytearray(b"value"))
    assert type(cache.get_nowait("key")) is bytes


async def test_set_nowait_ttl_expires_the_value() -> None:
    clock = FakeClock()
    cache = CacheManager(l1_size="1MB", clock=clock)
    cache.set_nowait("key", b"value", ttl=10)
    assert await cache.get_ttl("key") == pytest.approx(10)
    clock.now += 11
    assert cache.get_nowait("key") is CacheManager.MISSING


async def test_set_nowait_applies_the_default_ttl() -> None:
    cache = CacheManager(l1_size="1MB", default_ttl="1h", clock=FakeClock())
    cache.set_nowait("key", b"value")
    assert await cache.get_ttl("key") == pytest.approx(3600)


def test_set_nowait_rejects_a_bad_ttl() -> None:
    cache = CacheManager(l1_size="1MB")
    with pytest.raises(ConfigError):
        cache.set_nowait("key", b"value", ttl=-1)


def test_set_nowait_enforces_max_value_size() -> None:
    cache = CacheManager(l1_size="1MB", max_value_size=100)
    with pytest.raises(ValueTooLarge):
        cache.set_nowait("key", b"x" * 200)
    assert cache.get_nowait("key") is CacheManager.MISSING


def test_set_nowait_raises_when_the_value_fits_in_no_tier() -> None:
    cache = CacheManager(l1_size=4096)
    with pytest.raises(ValueTooLarge):
        cache.set_nowait("key", b"x" * 10_000)


async def test_set_nowait_accounts_and_evicts_like_set() -> None:
    synchronous, asynchronous = CacheManager(l1_size=4096), CacheManager(l1_size=4096)
    for index in range(40):
        synchronous.set_nowait(f"key-{index}", bytes(200))
        await asynchronous.set(f"key-{index}", bytes(200))
    assert synchronous.stats() == asynchronous.stats()
    assert synchronous.stats().tiers["l1"].evictions > 0
    assert synchronous.stats().tiers["l1"].bytes_used <= 4096


def test_set_nowait_replaces_the_previous_value() -> None:
    cache = CacheManager(l1_size="1MB")
    cache.set_nowait("key", b"old")
    cache.set_nowait("key", b"new")
    assert cache.get_nowait("key") == b"new"
    assert cache.stats().tiers["l1"].entries == 1


async def test_set_nowait_declines_when_l2_is_configured(tmp_path: Path) -> None:
    cache = CacheManager(l1_size="1MB", l2_size="1MB", l2_path=tmp_path / "l2")
    assert cache.set_nowait("key", b"value") is False
    assert cache.get_nowait("key") is CacheManager.MISSING


async def test_set_nowait_declines_after_close() -> None:
    cache = CacheManager(l1_size="1MB")
    await cache.close()
    assert cache.set_nowait("key", b"value") is False


async def test_lookup_nowait_returns_l1_values_and_counts_a_hit() -> None:
    cache = CacheManager(l1_size="1MB")
    await cache.set("key", b"value")
    assert cache.lookup_nowait(b"key") == b"value"
    assert cache.stats().hits == 1


async def test_lookup_nowait_final_miss_is_counted_like_get() -> None:
    looked_up, got = CacheManager(l1_size="1MB"), CacheManager(l1_size="1MB")
    assert looked_up.lookup_nowait("absent") is None
    assert await got.get("absent") is None
    assert looked_up.stats() == got.stats()
    assert looked_up.stats().misses == 1


async def test_lookup_nowait_defers_to_get_when_l2_could_have_the_value(tmp_path: Path) -> None:
    cache = CacheManager(l1_size="1MB", l2_size="1MB", l2_path=tmp_path / "l2")
    assert cache.lookup_nowait("absent") is CacheManager.MISSING
    assert cache.stats().misses == 0


async def test_lookup_nowait_defers_to_get_when_a_loader_is_set() -> None:
    async def loader(key: str) -> bytes:
        return b"loaded"

    cache = CacheManager(l1_size="1MB", loader=loader)
    assert cache.lookup_nowait("absent") is CacheManager.MISSING
    assert await cache.get("absent") == b"loaded"


async def test_access_observer_sees_each_read_once() -> None:
    cache = CacheManager(l1_size="1MB")
    seen: list[str] = []
    cache.access_observer = seen.append
    await cache.set("a", b"1")
    assert cache.get_nowait("a") == b"1"
    assert cache.get_nowait("absent") is CacheManager.MISSING  # the caller's get() reports it
    assert cache.lookup_nowait("absent") is None
    assert await cache.get("a") == b"1"
    assert seen == ["a", "absent", "a"]
    await cache.close()
