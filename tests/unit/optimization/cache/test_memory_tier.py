"""L1: byte accounting against real memory, expiry, low-priority admission."""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

import pytest

from memories.errors import ValueTooLarge
from memories.optimization.cache import memory_tier
from memories.optimization.cache.memory_tier import MemoryTier
from memories.optimization.cache.policies import POLICIES, create_policy
from memories.optimization.cache.policies.lru import CompiledLruPolicy, LruPolicy

CAPACITY = 128 * 1024


CACHE_CODE = str(Path(memory_tier.__file__).parent / "*")


def memory_held_by_the_cache() -> int:
    """Bytes traced now whose allocation happened in memories/optimization/cache or in this file."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, CACHE_CODE), tracemalloc.Filter(True, __file__)]
    )
    return sum(statistic.size for statistic in snapshot.statistics("filename"))


@pytest.mark.parametrize("value_size", [32, 1000])
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_real_memory_stays_within_budget_when_filled_8x(name: str, value_size: int) -> None:
    """What the tier holds is counted from the allocations made by the cache's code and this test's (keys, values);
    tracemalloc's process-wide total would also count other threads (an earlier test's agent winding down put
    100-200 KB on it in CI)."""
    gc.collect()
    tracemalloc.start()
    try:
        tier = MemoryTier(CAPACITY, create_policy(name), time.time)
        before = memory_held_by_the_cache()
        index = written = 0
        while written < 8 * CAPACITY:
            tier.put(f"key-{index:08d}", bytes(value_size) + index.to_bytes(4, "little"), None)
            if index % 3 == 0:
                tier.lookup(f"key-{index - 7:08d}")
            written += value_size
            index += 1
        growth = memory_held_by_the_cache() - before
    finally:
        tracemalloc.stop()
    assert tier.bytes_used <= CAPACITY
    assert tier.stats().evictions > 0
    assert growth <= CAPACITY * 1.1 + 64 * 1024


def test_entry_larger_than_capacity_raises() -> None:
    tier = MemoryTier(1000, create_policy("lru"), time.time)
    with pytest.raises(ValueTooLarge):
        tier.put("key", bytes(2000), None)


def test_expired_entry_is_not_returned() -> None:
    now = [100.0]
    tier = MemoryTier(1 << 20, create_policy("lru"), lambda: now[0])
    tier.put("key", b"v", 110.0)
    now[0] = 110.0
    assert tier.lookup("key") is None
    assert len(tier) == 0 and tier.bytes_used == 0


def full_tier(name: str, read: list[int]) -> MemoryTier:
    """A tier holding exactly key-0..key-3, of which the ``read`` ones were read once."""
    tier = MemoryTier(1 << 20, create_policy(name), time.time)
    tier.capacity_bytes = tier.cost("key-0", b"v") * 4
    for index in range(4):
        tier.put(f"key-{index}", b"v", None)
    for index in read:
        tier.lookup(f"key-{index}")
    return tier


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_low_priority_admission_never_evicts_read_entries(name: str) -> None:
    tier = full_tier(name, read=[0, 1, 2, 3])
    outcome = tier.put("key-9", b"v", None, low_priority=True)
    assert not outcome.admitted and outcome.entries == ()
    assert tier.peek("key-9") is None and len(tier) == 4


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_low_priority_admission_may_evict_unread_entries(name: str) -> None:
    tier = full_tier(name, read=[0, 0])  # twice: S3-FIFO keeps a key read once in its small queue as a victim
    outcome = tier.put("key-9", b"v", None, low_priority=True)
    assert outcome.admitted
    assert [key for key, _entry in outcome.entries] != ["key-0"]
    assert tier.peek("key-0") is not None


def test_store_evicts_to_stay_within_budget() -> None:
    tier = MemoryTier(4096, create_policy("lru"), time.time)
    for index in range(40):
        assert tier.store(f"key-{index}", bytes(200), None)
    assert tier.bytes_used <= 4096
    assert tier.lookup("key-39") is not None
    assert tier.lookup("key-0") is None


def test_store_refuses_an_entry_larger_than_the_capacity() -> None:
    tier = MemoryTier(4096, create_policy("lru"), time.time)
    assert tier.store("small", bytes(10), None)
    assert not tier.store("key", bytes(10_000), None)
    assert len(tier) == 1 and tier.peek("key") is None
    assert tier.bytes_used == tier.cost("small", bytes(10))


#: The batch calls exist only in the compiled LRU order (``_lru.c``), L1's index when it is built.
compiled_index_only = pytest.mark.skipif(
    LruPolicy is not CompiledLruPolicy, reason="the compiled order is switched off"
)


class _KeyThatDeletes(str):
    """A key equal to the str of the same text whose comparison deletes ``victim`` from ``tier`` first: the
    compiled index sees itself change during a lookup and raises RuntimeError, part-way through a batch call."""

    tier: MemoryTier
    victim: str

    def __new__(cls, text: str, tier: MemoryTier, victim: str) -> _KeyThatDeletes:
        key = super().__new__(cls, text)
        key.tier, key.victim = tier, victim
        return key

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        self.tier.delete(self.victim)  # True the first time: the index changed
        return str.__eq__(self, other)


def _tier_with(keys: list[str]) -> MemoryTier:
    tier = MemoryTier(CAPACITY, create_policy("lru"), time.monotonic)
    for key in keys:
        tier.put(key, b"v" * 100, None)
    return tier


def _resident(tier: MemoryTier) -> dict[str, int]:
    return {key: entry.size for key, entry in tier.items()}


@compiled_index_only
def test_a_batch_delete_that_fails_part_way_keeps_the_byte_count_exact() -> None:
    tier = _tier_with(["a", "b", "c"])
    with pytest.raises(RuntimeError):
        tier.delete_many(["a", _KeyThatDeletes("b", tier, victim="c")])  # "a" is gone when "b" fails
    assert sorted(_resident(tier)) == ["b"]
    assert tier.bytes_used == sum(_resident(tier).values())


@compiled_index_only
def test_a_batch_install_that_fails_part_way_counts_what_it_added() -> None:
    tier = _tier_with(["b", "c"])
    keys = ["new", _KeyThatDeletes("b", tier, victim="c")]
    values = [b"w" * 100, b"x" * 100]
    with pytest.raises(RuntimeError):
        tier.insert_new(keys, values, tier.costs(keys, values))  # "new" is in when "b" fails
    assert sorted(_resident(tier)) == ["b", "new"]
    assert tier.bytes_used == sum(_resident(tier).values())
