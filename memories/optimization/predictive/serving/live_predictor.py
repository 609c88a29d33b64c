"""The agent's running prediction: a loaded model stepped by every access, blended with an online Markov model."""

from __future__ import annotations

from collections.abc import Sequence

from memories.optimization.predictive.markov import MarkovPredictor, blend_scores
from memories.optimization.predictive.records import AccessRecord
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.serving.model_file import Predictor


class LivePredictor:
    """Feeds accesses to ``model`` (a loaded or freshly trained predictor) and, with ``online``, to a
    Markov model that keeps learning: it covers keys and sequences first seen after training."""

    def __init__(self, model: Predictor, online: MarkovPredictor | None = None) -> None:
        self.model = model
        self.online = online

    def observe(self, record: AccessRecord) -> None:
        """Step both models past one access."""
        self.model.observe(record)
        if self.online is not None:
            self.online.observe(record)

    def likely_keys(self, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` (key, probability 0..1) most likely next, each key scored by the higher of the two models."""
        predictions = self.model.predict(k)
        if self.online is not None:
            predictions = blend_scores(predictions, self.online.predict(k), k)
        return predictions

    def model_after(self, history: Sequence[AccessRecord]) -> Predictor:
        """A copy of the model placed after ``history`` (oldest first), leaving this one as it is."""
        if isinstance(self.model, LstmPredictor):
            replay = LstmPredictor(self.model.encoder, self.model.model)
            for record in history:
                replay.observe(record)
            return replay
        # a view on the same table that predicts after the history's last key without learning it
        view = MarkovPredictor()
        view.successors = self.model.successors
        view.last_key = history[-1].key if history else None
        return view

    @property
    def latencies(self) -> list[float]:
        """Seconds per prediction step of the model (empty for Markov)."""
        return self.model.latencies if isinstance(self.model, LstmPredictor) else []
