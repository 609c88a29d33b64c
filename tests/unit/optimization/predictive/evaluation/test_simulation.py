from __future__ import annotations

import pytest

from memories.errors import ConfigError
from memories.optimization.predictive.evaluation.simulation import blended_predictions, markov_predictions, simulate_lru
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns


def test_lru_without_prefetch_counts_hits() -> None:
    result = simulate_lru("none", ["a", "b", "a", "c", "b", "a"], capacity=2)
    assert result.hits == 1  # only the second "a"; "b" was evicted by "c"
    assert result.prefetched == 0


def test_perfect_prefetch_turns_misses_into_used_prefetches() -> None:
    keys = ["a", "b", "c", "d"]
    predictions = [["b"], ["c"], ["d"], []]
    result = simulate_lru("oracle", keys, capacity=2, predictions=predictions)
    assert (result.hits, result.prefetched, result.prefetch_used) == (3, 3, 3)
    assert result.precision == 1.0 and result.top1_accuracy == 1.0


def test_unused_prefetch_lowers_precision_and_can_evict() -> None:
    result = simulate_lru("bad", ["a", "a"], capacity=1, predictions=[["x"], []])
    assert result.hits == 0 and result.precision == 0.0


def test_markov_prefetch_beats_no_prefetch_on_a_cycle() -> None:
    columns = AccessColumns.from_records([f"k{index % 50}" for index in range(1000)])
    predictor = MarkovPredictor()
    predictor.train(columns.keys[:100])
    with_prefetch = simulate_lru("markov", columns.keys, 10, markov_predictions(predictor, columns, 1))
    without = simulate_lru("none", columns.keys, 10)
    assert with_prefetch.hit_ratio > 0.9 > without.hit_ratio


def test_zero_capacity_is_config_error() -> None:
    with pytest.raises(ConfigError):
        simulate_lru("none", ["a"], capacity=0)


def test_blend_prefers_the_more_confident_source() -> None:
    columns = AccessColumns.from_records(["a", "b"])
    markov = MarkovPredictor()
    markov.train(["a", "b", "a", "c"])
    model = [[("x", 0.9)], [("y", 0.1)]]
    blended = list(blended_predictions(model, markov, columns, 1))
    assert blended == [["x"], ["a"]]  # after "a" Markov shares are 0.5 < 0.9; after "b" it is 1.0 > 0.1


def test_cold_admission_never_displaces_an_entry_read_since_it_entered() -> None:
    # "a" is read (hit) while cached, so the prefetch of "x" must be dropped
    result = simulate_lru("cold", ["a", "a", "b"], capacity=1, predictions=[[], ["x"], []], admission="cold")
    assert result.prefetched == 0


def test_cold_admission_replaces_only_an_unread_entry() -> None:
    result = simulate_lru("cold", ["a", "b", "c"], capacity=1, predictions=[["b"], ["c"], []], admission="cold")
    assert (result.hits, result.prefetched, result.prefetch_used) == (1, 1, 1)  # "c" may not displace read "b"
