"""From an access log to a trained LSTM: choose the target (keys or deltas), fit the vocabularies, train.

(:mod:`.loop` is the optimisation loop itself; :mod:`.export` writes the result as an ONNX model file.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from memories.errors import ConfigError
from memories.optimization.predictive.features import FeatureEncoder, key_deltas
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.reports import EpochResult, TrainingHistory
from memories.optimization.predictive.serving.inference import OnnxSequenceModel
from memories.optimization.predictive.serving.live_predictor import LivePredictor
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.training.export import export_network
from memories.optimization.predictive.training.loop import train_network
from memories.optimization.predictive.training.network import LSTMConfig, LSTMNetwork
from memories.optimization.predictive.training.progress import ProgressBar

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


@dataclass(slots=True)
class TrainedPredictor:
    """What :func:`train_predictor` learned: the ``live`` predictor to serve (None for model "none"),
    the trained network for LSTMs (to save), and the number of records learned from."""

    records: int
    live: LivePredictor | None
    lstm: TrainedLstm | None


def train_predictor(
    model: str,
    access_patterns: Iterable[object],
    *,
    features: Sequence[str],
    epochs: int,
    target: str = "auto",
    vocabulary_size: int = 8192,
    config: LSTMConfig | None = None,
    progress: bool = True,
    online_markov: bool = True,
) -> TrainedPredictor:
    """Learn a ``model`` ("lstm", "markov" or "none") from a log of accesses (see ``records``).

    CPU-bound: call from a thread in async code. An "lstm" is served through onnxruntime from its
    exported graph (what a saved file would give), blended with an online Markov model trained on
    the same log when ``online_markov``. Raises ConfigError as :func:`train_lstm`.
    """
    columns = AccessColumns.from_records(access_patterns)
    if model == "none":
        return TrainedPredictor(len(columns), None, None)
    if model == "markov":
        markov = MarkovPredictor()
        markov.train(columns.keys)
        return TrainedPredictor(len(columns), LivePredictor(markov), None)
    trained = train_lstm(
        columns,
        features=features,
        epochs=epochs,
        target=target,
        vocabulary_size=vocabulary_size,
        config=config,
        progress=progress,
    )
    session = OnnxSequenceModel(export_network(trained.network).SerializeToString())
    online = None
    if online_markov:
        online = MarkovPredictor()
        online.train(columns.keys)
    return TrainedPredictor(len(columns), LivePredictor(LstmPredictor(trained.encoder, session), online), trained)
