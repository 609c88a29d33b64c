"""Eviction order of each policy, the registry, and invariants shared by all policies."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization.cache.policies import POLICIES, EvictionPolicy, create_policy
from memories.optimization.cache.policies.frequency_sketch import FrequencySketch
from memories.optimization.cache.policies.lfu import LfuPolicy
from memories.optimization.cache.policies.lru import LruPolicy
from memories.optimization.cache.policies.s3fifo import S3FifoPolicy
from memories.optimization.cache.policies.wtinylfu import WTinyLfuPolicy


def evict(policy: EvictionPolicy) -> object:
    victim = policy.choose_victim()
    policy.remove(victim, evicted=True)
    return victim


def test_lru_evicts_least_recently_used_first() -> None:
    policy = LruPolicy()
    for key in "abc":
        policy.record_insert(key)
    policy.record_access("a")
    assert [evict(policy) for _ in range(3)] == ["b", "c", "a"]


def test_lru_low_priority_insert_goes_to_the_cold_end() -> None:
    policy = LruPolicy()
    policy.record_insert("a")
    policy.record_insert("prefetched", low_priority=True)
    assert policy.choose_victim() == "prefetched"


def test_lfu_evicts_least_frequently_used_first() -> None:
    policy = LfuPolicy()
    for key in "abc":
        policy.record_insert(key)
    for _ in range(2):
        policy.record_access("a")
    policy.record_access("c")
    assert [evict(policy) for _ in range(3)] == ["b", "c", "a"]


def test_lfu_ties_evict_the_oldest() -> None:
    policy = LfuPolicy()
    for key in "xyz":
        policy.record_insert(key)
    assert evict(policy) == "x"


def test_lfu_aging_halves_frequencies() -> None:
    policy = LfuPolicy()
    policy.record_insert("hot")
    policy.record_insert("other")
    for _ in range(1023):
        policy.record_access("hot")
    assert policy.frequency("hot") == 1024
    policy.record_access("other")  # the 1024th access triggers aging
    assert policy.frequency("hot") == 512
    assert policy.frequency("other") == 1


def test_lfu_prefetched_key_is_evicted_before_written_ones() -> None:
    policy = LfuPolicy()
    policy.record_insert("written")
    policy.record_insert("prefetched", low_priority=True)
    assert policy.choose_victim() == "prefetched"


def test_s3fifo_evicts_unread_new_keys_before_read_ones() -> None:
    policy = S3FifoPolicy()
    for key in "abcdefghij":
        policy.record_insert(key)
    policy.record_access("a")
    policy.record_access("a")
    assert evict(policy) == "b"  # "a" was read twice, so it moved to the main queue


def test_s3fifo_evicts_a_new_key_read_only_once() -> None:
    policy = S3FifoPolicy()
    for key in "abcdefghij":
        policy.record_insert(key)
    policy.record_access("a")
    assert evict(policy) == "a"  # one read is not enough to earn the main queue


def test_s3fifo_is_scan_resistant() -> None:
    policy = S3FifoPolicy()
    capacity = 20
    for key in range(capacity):
        policy.record_insert(("hot", key))
    for _ in range(2):
        for key in range(capacity):
            policy.record_access(("hot", key))
    for key in range(200):  # a one-pass scan much larger than the cache
        while len(policy) >= capacity:
            evict(policy)
        policy.record_insert(("scan", key))
    hot_left = sum(("hot", key) in policy for key in range(capacity))
    assert hot_left >= capacity * 0.8


def test_s3fifo_ghost_hit_goes_to_main_queue() -> None:
    policy = S3FifoPolicy()
    for key in "abcdefghij":
        policy.record_insert(key)
    assert evict(policy) == "a"
    policy.record_insert("a")  # remembered by the ghost queue: straight to main
    assert [evict(policy) for _ in range(9)] == list("bcdefghij")


def test_unknown_policy_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="lfu, lru, s3fifo, wtinylfu"):
        create_policy("fifo")


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_registry_creates_policy_by_name(name: str) -> None:
    assert create_policy(name).name == name


operations = st.lists(
    st.tuples(st.sampled_from(["insert", "prefetch", "access", "remove", "evict"]), st.integers(0, 12)),
    max_size=200,
)


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=60, deadline=None)
@given(steps=operations)
def test_policy_tracks_exactly_the_resident_keys(name: str, steps: list[tuple[str, int]]) -> None:
    policy = create_policy(name)
    resident: set[int] = set()
    for operation, key in steps:
        if operation in ("insert", "prefetch"):
            policy.record_insert(key, key + 1, low_priority=operation == "prefetch")
            resident.add(key)
        elif operation == "access" and key in resident:
            policy.record_access(key)
        elif operation == "remove":
            policy.remove(key)
            resident.discard(key)
        elif operation == "evict" and resident:
            victim = evict(policy)
            assert victim in resident
            resident.discard(victim)
        assert len(policy) == len(resident)
        assert all(key in policy for key in resident)
    assert (policy.choose_victim() is None) == (not resident)


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=60, deadline=None)
@given(steps=operations, replaced=st.lists(st.integers(0, 12), max_size=20))
def test_record_replace_is_remove_then_insert(name: str, steps: list[tuple[str, int]], replaced: list[int]) -> None:
    """A cheaper ``record_replace`` must leave the policy evicting exactly as remove + record_insert would."""
    fast, reference = create_policy(name), create_policy(name)
    resident: set[int] = set()
    for operation, key in steps:
        for policy in (fast, reference):
            if operation in ("insert", "prefetch"):
                policy.record_insert(key, key + 1, low_priority=operation == "prefetch")
            elif operation == "access" and key in resident:
                policy.record_access(key)
            elif operation == "remove":
                policy.remove(key)
        if operation in ("insert", "prefetch"):
            resident.add(key)
        elif operation == "remove":
            resident.discard(key)
    for key in replaced:
        if key in resident:
            fast.record_replace(key, key + 2)
            reference.remove(key)
            reference.record_insert(key, key + 2)
    assert [evict(fast) for _ in resident] == [evict(reference) for _ in resident]


def admit(policy: EvictionPolicy, key: object, capacity: int) -> list[object]:
    """Insert ``key`` into a policy bounded to ``capacity`` keys; return the keys evicted."""
    evicted = []
    while len(policy) >= capacity:
        evicted.append(evict(policy))
    policy.record_insert(key)
    return evicted


def test_wtinylfu_rejects_a_newcomer_less_frequent_than_main_keys() -> None:
    policy = WTinyLfuPolicy()
    for key in range(100):
        admit(policy, key, 100)
    for _ in range(3):
        for key in range(100):
            policy.record_access(key)
    for newcomer in ("first", "second", "third"):
        admit(policy, newcomer, 100)
    assert "first" not in policy and "second" not in policy
    assert sum(key in policy for key in range(100)) >= 96


def test_wtinylfu_admits_a_newcomer_more_frequent_than_the_main_victim() -> None:
    policy = WTinyLfuPolicy()
    for key in range(100):
        policy.record_insert(key)
    for _ in range(3):
        policy.record_insert("newcomer")
        policy.record_access("newcomer")
    victim = policy.choose_victim()
    assert victim != "newcomer" and victim in policy


def test_frequency_sketch_counts_repeated_keys_higher() -> None:
    sketch = FrequencySketch()
    for _ in range(5):
        sketch.increment("often")
    sketch.increment("once")
    assert sketch.estimate("often") == 5
    assert sketch.estimate("once") == 1
    assert sketch.estimate("never") == 0


def test_wtinylfu_duels_at_any_cache_size() -> None:
    """With 441 entries 1 % of the window share is no whole number of keys: newcomers still duel."""
    policy = WTinyLfuPolicy()
    for key in range(441):
        admit(policy, key, 441)
    for _ in range(3):
        for key in range(441):
            policy.record_access(key)
    for newcomer in range(1000, 1050):  # a one-pass scan of new keys
        admit(policy, newcomer, 441)
    assert sum(key in policy for key in range(441)) >= 430


def _replay(policy: WTinyLfuPolicy, keys: list[int], capacity: int) -> None:
    for key in keys:
        if key in policy:
            policy.record_access(key)
        else:
            admit(policy, key, capacity)


def test_wtinylfu_window_grows_when_recently_evicted_keys_return() -> None:
    policy = WTinyLfuPolicy()
    # a loop over 120 keys through 100 entries: each key returns soon after the window let it go
    _replay(policy, list(range(120)) * 30, 100)
    assert policy.window_share > 0.2


def test_wtinylfu_window_shrinks_when_frequent_keys_return() -> None:
    policy = WTinyLfuPolicy()
    _replay(policy, list(range(120)) * 10, 100)
    grown = policy.window_share
    # then a skewed (Zipf 1.3) popularity over 3,000 keys: what returns is what main let go
    rng = random.Random(5)
    _replay(policy, rng.choices(range(3000), [1 / (rank + 1) ** 1.3 for rank in range(3000)], k=30_000), 100)
    assert grown > 0.2 and policy.window_share < 0.05


def test_frequency_sketch_scan_of_new_keys_keeps_the_counts() -> None:
    sketch = FrequencySketch(64)
    for _ in range(6):
        sketch.increment("hot")
    for key in range(64 * 10):  # first sightings only: they clear the doorkeeper, never the counters
        sketch.increment(("scan", key))
    assert sketch.estimate("hot") >= 5
