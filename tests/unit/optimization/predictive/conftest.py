"""Shared fixtures for the predictive tests: tiny models and synthetic logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memories.optimization.predictive.training.network import LSTMConfig

PeriodicLog = Callable[[int, int], list[dict[str, object]]]


@pytest.fixture
def tiny_config() -> LSTMConfig:
    """A model small enough to train in well under a second."""
    return LSTMConfig(
        embedding_size=8,
        category_embedding_size=4,
        hidden_size=16,
        window=8,
        batch_size=8,
        learning_rate=0.02,
        min_steps_per_epoch=10,
        seed=7,
    )


@pytest.fixture
def periodic_log() -> PeriodicLog:
    """Returns a log of keys k0..k{period-1} repeated ``repeats`` times, one second apart."""

    def build(period: int, repeats: int) -> list[dict[str, object]]:
        return [{"key": f"k{index % period}", "time": 1_700_000_000 + index} for index in range(period * repeats)]

    return build
