from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ModelError
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.training.fit import markov_accuracy


def test_predicts_most_frequent_successor() -> None:
    predictor = MarkovPredictor()
    predictor.train(["a", "b", "a", "c", "a", "b", "a"])
    predicted = predictor.predict(2)
    assert [key for key, _probability in predicted] == ["b", "c"]
    assert [probability for _key, probability in predicted] == pytest.approx([2 / 3, 1 / 3])


def test_unknown_last_key_predicts_nothing() -> None:
    predictor = MarkovPredictor()
    predictor.train(["a", "b", "z"])
    assert predictor.predict(3) == []


def test_online_accuracy_on_a_cycle_misses_only_the_first_round() -> None:
    assert markov_accuracy(["a", "b", "c"] * 10) == pytest.approx(26 / 29)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from("abcd"), min_size=2, max_size=60))
def test_json_round_trip_keeps_predictions(keys: list[str]) -> None:
    predictor = MarkovPredictor()
    predictor.train(keys)
    again = MarkovPredictor.from_json(predictor.to_json())
    again.last_key = predictor.last_key
    assert again.predict(4) == predictor.predict(4)


def test_malformed_table_is_model_error() -> None:
    with pytest.raises(ModelError):
        MarkovPredictor.from_json({"kind": "markov", "successors": {"a": 3}})
