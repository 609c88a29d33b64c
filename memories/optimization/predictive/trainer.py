"""From an access log to a trained model: choose the target, fit vocabularies, train, export."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memories.errors import ConfigError
from memories.optimization.predictive.features import FeatureEncoder, key_deltas
from memories.optimization.predictive.lstm_numpy import EpochResult, LSTMConfig, LSTMNetwork, TrainingHistory
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.progress import ProgressBar
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.training import train_network

#: Records used by the "auto" target measurement (a prefix of the log).
TARGET_PROBE_RECORDS = 200_000


@dataclass(slots=True)
class TrainedLstm:
    """A trained network with its encoder and training history."""

    network: LSTMNetwork
    encoder: FeatureEncoder
    history: TrainingHistory


def markov_accuracy(tokens: Sequence[str | None]) -> float:
    """Share (0..1) of positions where the online most-frequent-successor guess was right."""
    predictor = MarkovPredictor()
    correct = 0
    for token in tokens:
        text = "" if token is None else token
        guess = predictor.predict(1)
        correct += bool(guess) and guess[0][0] == text
        predictor.observe_key(text)
    return correct / max(len(tokens) - 1, 1)


def choose_target(columns: AccessColumns) -> str:
    """Return "delta" when keys are integers and deltas are more predictable than keys, else "key".

    Measured with the Markov baseline on a prefix of the log (cheap, and a good proxy for which
    token space has more regular successors).
    """
    keys = columns.keys[:TARGET_PROBE_RECORDS]
    try:
        deltas = key_deltas(keys)
    except ConfigError:
        return "key"
    return "delta" if markov_accuracy(deltas) > markov_accuracy(keys) else "key"


def train_lstm(
    columns: AccessColumns,
    *,
    features: Sequence[str],
    epochs: int,
    target: str = "auto",
    vocabulary_size: int = 8192,
    config: LSTMConfig | None = None,
    progress: bool = True,
    epoch_done: Callable[[EpochResult], None] | None = None,
) -> TrainedLstm:
    """Train an LSTM on ``columns`` (CPU-bound: call from a thread in async code).

    ``target``: "key", "delta" or "auto" (:func:`choose_target`). Raises ConfigError for bad
    settings, non-integer keys with "delta", or logs shorter than 16 accesses.
    """
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    if target == "auto":
        target = choose_target(columns)
    encoder = FeatureEncoder.fit(columns, features, target, vocabulary_size=vocabulary_size)
    encoded = encoder.encode(columns)
    sizes = {name: encoder.vocabularies[name].size for name in encoder.categorical_names}
    network = LSTMNetwork(sizes, encoder.continuous_size, encoder.target_vocabulary.size, config or LSTMConfig())
    bar = ProgressBar() if progress else None

    def on_epoch(result: EpochResult) -> None:
        if bar is not None:
            bar.epoch_done(result)
        if epoch_done is not None:
            epoch_done(result)

    history = train_network(network, encoded, epochs, bar, on_epoch)
    return TrainedLstm(network, encoder, history)
