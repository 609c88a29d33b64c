from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy
import pytest

from memories.optimization.predictive.features import FeatureEncoder
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.training.fit import train_lstm
from memories.optimization.predictive.training.loop import evaluate_network
from memories.optimization.predictive.training.network import LSTMConfig, LSTMNetwork

if TYPE_CHECKING:
    from tests.unit.optimization.predictive.conftest import PeriodicLog


def _tiny_batch(rng: numpy.random.Generator) -> tuple[dict[str, numpy.ndarray], numpy.ndarray, numpy.ndarray]:
    categorical = {"key": rng.integers(0, 7, (2, 4)), "type": rng.integers(0, 3, (2, 4))}
    return categorical, rng.normal(size=(2, 4, 2)), rng.integers(0, 7, (2, 4))


@pytest.mark.parametrize("sampled", [False, True])
def test_backprop_matches_numerical_gradient(sampled: bool) -> None:
    config = LSTMConfig(embedding_size=3, category_embedding_size=2, hidden_size=4, dtype="float64", seed=3)
    network = LSTMNetwork({"key": 7, "type": 3}, 2, 7, config)
    rng = numpy.random.default_rng(0)
    categorical, continuous, targets = _tiny_batch(rng)
    state = (rng.normal(size=(2, 4)), rng.normal(size=(2, 4)))
    candidates = numpy.unique(numpy.concatenate([targets.ravel(), [0, 6]])) if sampled else None

    def loss() -> float:
        return network.loss_and_gradients(categorical, continuous, targets, state, candidates=candidates)[0]

    _, gradients, _ = network.loss_and_gradients(categorical, continuous, targets, state, candidates=candidates)
    for name, value in network.parameters.items():
        flat = value.reshape(-1)
        for index in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            original = flat[index]
            flat[index] = original + 1e-6
            plus = loss()
            flat[index] = original - 1e-6
            minus = loss()
            flat[index] = original
            numerical = (plus - minus) / 2e-6
            assert gradients[name].reshape(-1)[index] == pytest.approx(numerical, rel=1e-4, abs=1e-7), name


def test_training_is_deterministic_for_a_seed(tiny_config: LSTMConfig, periodic_log: PeriodicLog) -> None:
    columns = AccessColumns.from_records(periodic_log(5, 60))
    first = train_lstm(columns, features=["time"], epochs=2, target="key", config=tiny_config, progress=False)
    second = train_lstm(columns, features=["time"], epochs=2, target="key", config=tiny_config, progress=False)
    for name, value in first.network.parameters.items():
        numpy.testing.assert_array_equal(value, second.network.parameters[name])


def test_different_seeds_give_different_weights(tiny_config: LSTMConfig, periodic_log: PeriodicLog) -> None:
    columns = AccessColumns.from_records(periodic_log(5, 60))
    first = train_lstm(columns, features=[], epochs=1, target="key", config=tiny_config, progress=False)
    other = dataclasses.replace(tiny_config, seed=8)
    second = train_lstm(columns, features=[], epochs=1, target="key", config=other, progress=False)
    assert not numpy.array_equal(first.network.parameters["lstm.W"], second.network.parameters["lstm.W"])


def test_loss_decreases_on_a_learnable_sequence(tiny_config: LSTMConfig, periodic_log: PeriodicLog) -> None:
    columns = AccessColumns.from_records(periodic_log(7, 80))
    trained = train_lstm(columns, features=["time"], epochs=4, target="key", config=tiny_config, progress=False)
    losses = [epoch.train_loss for epoch in trained.history.epochs]
    assert losses[-1] < losses[0] * 0.5


def test_learns_a_periodic_pattern_far_better_than_chance(tiny_config: LSTMConfig) -> None:
    # period 12 over 6 keys: each key has two possible successors, so the LSTM needs memory
    pattern = [0, 1, 2, 3, 4, 5, 0, 2, 4, 1, 3, 5]
    columns = AccessColumns.from_records([f"k{pattern[index % 12]}" for index in range(12 * 120)])
    trained = train_lstm(columns, features=[], epochs=8, target="key", config=tiny_config, progress=False)
    encoded = trained.encoder.encode(columns)
    _, accuracy = evaluate_network(trained.network, encoded, 0, len(columns) - 1)
    assert accuracy > 0.8  # chance is 1/6; a first-order Markov model would get ~0.67


def test_early_stopping_keeps_the_best_epoch(tiny_config: LSTMConfig) -> None:
    rng = numpy.random.default_rng(1)
    noise = AccessColumns.from_records([f"k{value}" for value in rng.integers(0, 50, 600)])
    trained = train_lstm(noise, features=[], epochs=12, target="key", config=tiny_config, progress=False)
    history = trained.history
    best = min(history.epochs, key=lambda epoch: epoch.validation_loss)
    assert history.best_epoch == best.epoch
    assert history.stopped_early


def test_encoder_feeds_all_inputs(tiny_config: LSTMConfig) -> None:
    columns = AccessColumns.from_records(
        [{"key": str(index % 9), "time": index, "location": "eu", "type": "a"} for index in range(200)]
    )
    encoder = FeatureEncoder.fit(columns, ["time", "location", "type"], "delta", vocabulary_size=20)
    assert encoder.categorical_names == ["key", "delta", "location", "type"]
    trained = train_lstm(
        columns, features=["time", "location", "type"], epochs=1, target="delta", config=tiny_config, progress=False
    )
    assert trained.network.input_size == 8 + 8 + 4 + 4 + 5
