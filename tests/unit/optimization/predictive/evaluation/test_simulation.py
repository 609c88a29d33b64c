from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization.cache.memory_tier import MemoryTier
from memories.optimization.cache.policies import POLICIES, create_policy
from memories.optimization.predictive.evaluation.belady import belady_hits
from memories.optimization.predictive.evaluation.simulation import (
    ReplayCache,
    blended_predictions,
    capacity_for,
    markov_predictions,
    simulate,
)
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns


def test_lru_without_prefetch_counts_hits() -> None:
    result = simulate("none", ["a", "b", "a", "c", "b", "a"], capacity=2)
    assert result.hits == 1  # only the second "a"; "b" was evicted by "c"
    assert result.prefetched == 0


def test_perfect_prefetch_turns_misses_into_used_prefetches() -> None:
    keys = ["a", "b", "c", "d"]
    predictions = [["b"], ["c"], ["d"], []]
    result = simulate("oracle", keys, capacity=2, predictions=predictions, admission="mru")
    assert (result.hits, result.prefetched, result.prefetch_used) == (3, 3, 3)
    assert result.precision == 1.0 and result.top1_accuracy == 1.0


def test_unused_prefetch_lowers_precision_and_can_evict() -> None:
    result = simulate("bad", ["a", "a"], capacity=1, predictions=[["x"], []], admission="mru")
    assert result.hits == 0 and result.precision == 0.0


def test_markov_prefetch_beats_no_prefetch_on_a_cycle() -> None:
    columns = AccessColumns.from_records([f"k{index % 50}" for index in range(1000)])
    predictor = MarkovPredictor()
    predictor.train(columns.keys[:100])
    with_prefetch = simulate("markov", columns.keys, 10, markov_predictions(predictor, columns, 1), admission="mru")
    without = simulate("none", columns.keys, 10)
    assert with_prefetch.hit_ratio > 0.9 > without.hit_ratio


def test_zero_capacity_is_config_error() -> None:
    with pytest.raises(ConfigError):
        simulate("none", ["a"], capacity=0)


def test_blend_prefers_the_more_confident_source() -> None:
    columns = AccessColumns.from_records(["a", "b"])
    markov = MarkovPredictor()
    markov.train(["a", "b", "a", "c"])
    model = [[("x", 0.9)], [("y", 0.1)]]
    blended = list(blended_predictions(model, markov, columns, 1))
    assert blended == [["x"], ["a"]]  # after "a" Markov shares are 0.5 < 0.9; after "b" it is 1.0 > 0.1


def test_cold_admission_never_displaces_an_entry_read_since_it_entered() -> None:
    # "a" is read (hit) while cached, so the prefetch of "x" must be dropped
    result = simulate("cold", ["a", "a", "b"], capacity=1, predictions=[[], ["x"], []], admission="cold")
    assert result.prefetched == 0


def test_cold_admission_replaces_only_an_unread_entry() -> None:
    result = simulate("cold", ["a", "b", "c"], capacity=1, predictions=[["b"], ["c"], []], admission="cold")
    assert (result.hits, result.prefetched, result.prefetch_used) == (1, 1, 1)  # "c" may not displace read "b"


def test_per_step_limit_caps_prefetches_after_each_request() -> None:
    result = simulate("k", ["a", "b", "c"], capacity=10, predictions=[["x", "y", "z"]] * 3, per_step=2)
    assert result.prefetched == 3  # x and y after "a"; z after "b"; nothing new after "c"


def test_capacity_from_a_share_is_truncated_like_libcachesim() -> None:
    assert [capacity_for(0.01, 48_974), capacity_for(0.1, 48_974), capacity_for(0.001, 10)] == [489, 4897, 1]


OPERATIONS = st.lists(st.tuples(st.sampled_from(["request", "prefetch"]), st.integers(0, 11)), max_size=120)


@settings(max_examples=60, deadline=None)
@given(policy=st.sampled_from(sorted(POLICIES)), capacity=st.integers(1, 6), operations=OPERATIONS)
def test_replay_cache_decides_as_the_agents_memory_tier(
    policy: str, capacity: int, operations: list[tuple[str, int]]
) -> None:
    """The same requests and prefetches through ReplayCache and MemoryTier (entries of size 1 under a
    capacity of ``capacity`` bytes): same hits, same admitted prefetches, same resident keys."""
    replay = ReplayCache(capacity, policy)
    tier = MemoryTier(capacity, create_policy(policy), clock=lambda: 0.0)
    for operation, number in operations:
        key = f"k{number}"
        if operation == "request":
            hit = tier.lookup(key) is not None
            if not hit:
                tier.put(key, b"", None, size=1)
            assert replay.request(key) == hit
        elif key in replay:
            assert tier.peek(key) is not None
            assert not replay.prefetch(key)
        else:
            assert replay.prefetch(key) == tier.put(key, b"", None, low_priority=True, size=1).admitted
        assert {name for name in (f"k{index}" for index in range(12)) if tier.peek(name) is not None} == {
            name for name in (f"k{index}" for index in range(12)) if name in replay
        }


def _optimal_hits(keys: list[str], capacity: int) -> int:
    """Every eviction choice tried (no bypass): the most hits any replacement can get."""

    def best(index: int, cache: frozenset[str]) -> int:
        if index == len(keys):
            return 0
        key = keys[index]
        if key in cache:
            return 1 + best(index + 1, cache)
        if len(cache) < capacity:
            return best(index + 1, cache | {key})
        return max(best(index + 1, (cache - {victim}) | {key}) for victim in cache)

    return best(0, frozenset())


@settings(max_examples=150, deadline=None)
@given(keys=st.lists(st.sampled_from("abcde"), max_size=10), capacity=st.integers(1, 3))
def test_belady_gets_the_most_hits_any_eviction_order_can(keys: list[str], capacity: int) -> None:
    assert belady_hits(keys, capacity) == _optimal_hits(keys, capacity)
