"""Serving a trained LSTM: encode each access, step the onnxruntime session, decode top-k keys."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy

from memories.optimization.predictive.features import FeatureEncoder
from memories.optimization.predictive.records import AccessColumns, AccessRecord
from memories.optimization.predictive.serving.inference import OnnxSequenceModel

#: Candidates fetched from the model per step; predict(k) decodes the first k non-OOV of them.
CANDIDATES_PER_STEP = 16
CHUNK_STEPS = 512


class LstmPredictor:
    """Stateful next-access predictor over an exported model; ``latencies`` holds seconds per step."""

    kind = "lstm"

    def __init__(self, encoder: FeatureEncoder, model: OnnxSequenceModel) -> None:
        self.encoder = encoder
        self.model = model
        self.state = model.zero_state(1)
        self.previous: AccessRecord | None = None
        self.top_ids = numpy.zeros(0, numpy.int64)
        self.top_log_probabilities = numpy.zeros(0, numpy.float32)
        self.latencies: list[float] = []
        self.candidates = min(CANDIDATES_PER_STEP, encoder.target_vocabulary.size)

    def observe(self, record: AccessRecord) -> None:
        """Feed one access through the model (one onnxruntime call) and keep its predictions."""
        started = time.perf_counter()
        history = AccessColumns()
        if self.previous is not None:
            history.append(self.previous)
        history.append(record)
        encoded = self.encoder.encode(history)
        categorical = {name: ids[-1:].reshape(1, 1) for name, ids in encoded.categorical.items()}
        continuous = encoded.continuous[-1:].reshape(1, 1, -1)
        log_probabilities, ids, self.state = self.model.run(categorical, continuous, self.state, self.candidates)
        self.top_ids, self.top_log_probabilities = ids[0, 0], log_probabilities[0, 0]
        self.previous = record
        self.latencies.append(time.perf_counter() - started)
        del self.latencies[:-10_000]

    def predict(self, k: int = 1) -> list[tuple[str, float]]:
        """Up to ``k`` (key, probability 0..1) most likely next keys after the observed accesses."""
        if self.previous is None:
            return []
        return _decode(self.encoder, self.top_ids, self.top_log_probabilities, self.previous.key, k)

    def predict_log(self, columns: AccessColumns, k: int, min_probability: float = 0.0) -> Iterator[list[str]]:
        """For each access of ``columns`` in order, yield the top-k keys predicted to follow it
        with probability >= ``min_probability`` (0..1)."""
        for scored in self.predict_log_scored(columns, k):
            yield [key for key, probability in scored if probability >= min_probability]

    def predict_log_scored(self, columns: AccessColumns, k: int) -> Iterator[list[tuple[str, float]]]:
        """For each access of ``columns`` in order, yield the top-k (key, probability) predicted next.

        Runs the model over chunks of the log (fast path for offline evaluation); does not
        change this predictor's live state.
        """
        encoded = self.encoder.encode(columns)
        state = self.model.zero_state(1)
        candidates = min(max(k * 2, k + 2), self.encoder.target_vocabulary.size)
        for start in range(0, len(columns), CHUNK_STEPS):
            stop = min(start + CHUNK_STEPS, len(columns))
            categorical = {name: ids[start:stop].reshape(-1, 1) for name, ids in encoded.categorical.items()}
            continuous = encoded.continuous[start:stop].reshape(stop - start, 1, -1)
            log_probabilities, ids, state = self.model.run(categorical, continuous, state, candidates)
            for offset in range(stop - start):
                last_key = columns.keys[start + offset]
                yield _decode(self.encoder, ids[offset, 0], log_probabilities[offset, 0], last_key, k)


def _decode(
    encoder: FeatureEncoder, ids: numpy.ndarray, log_probabilities: numpy.ndarray, last_key: str, k: int
) -> list[tuple[str, float]]:
    predictions: list[tuple[str, float]] = []
    for token_id, log_probability in zip(ids.tolist(), log_probabilities.tolist(), strict=True):
        key = encoder.decode(token_id, last_key)
        if key is not None:
            predictions.append((key, float(numpy.exp(log_probability))))
            if len(predictions) == k:
                break
    return predictions
