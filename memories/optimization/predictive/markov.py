"""Baseline: an online first-order Markov model predicting the most frequent successors of a key."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import Any

from memories.errors import ModelError
from memories.optimization.predictive.records import AccessRecord


def blend_scores(
    first: Sequence[tuple[str, float]], second: Sequence[tuple[str, float]], k: int
) -> list[tuple[str, float]]:
    """The top-k keys of two scored prediction lists, each key scored by its higher score."""
    scores = dict(first)
    for key, score in second:
        scores[key] = max(scores.get(key, 0.0), score)
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)[:k]
    return [(key, scores[key]) for key in ranked]


class MarkovPredictor:
    """Counts ``previous key → next key`` transitions and predicts the most frequent successors.

    It keeps learning from every observed access (online). ``predict`` ranks by count, ties by
    first occurrence.
    """

    kind = "markov"

    def __init__(self) -> None:
        self.successors: dict[str, dict[str, int]] = {}
        self.last_key: str | None = None

    def observe(self, record: AccessRecord) -> None:
        """Learn the transition from the previous access to ``record`` and move to it."""
        self.observe_key(record.key)

    def observe_key(self, key: str) -> None:
        """As :meth:`observe` with only a key."""
        if self.last_key is not None:
            counts = self.successors.setdefault(self.last_key, {})
            counts[key] = counts.get(key, 0) + 1
        self.last_key = key

    def train(self, keys: Iterable[str]) -> None:
        """Observe every key of ``keys`` in order."""
        for key in keys:
            self.observe_key(key)

    def predict(self, k: int = 1) -> list[tuple[str, float]]:
        """Return up to ``k`` (key, share of transitions 0..1) most likely after the last observed key."""
        counts = self.successors.get(self.last_key) if self.last_key is not None else None
        if not counts:
            return []
        total = sum(counts.values())
        if k == 1:
            best = max(counts, key=counts.__getitem__)
            return [(best, counts[best] / total)]
        return [(key, counts[key] / total) for key in heapq.nlargest(k, counts, key=counts.__getitem__)]

    def to_json(self) -> dict[str, Any]:
        """JSON-serializable transition counts."""
        return {"kind": self.kind, "successors": self.successors}

    @classmethod
    def from_json(cls, data: object) -> MarkovPredictor:
        """Rebuild from :meth:`to_json` output; ModelError when malformed."""
        if not isinstance(data, dict) or data.get("kind") != cls.kind or not isinstance(data.get("successors"), dict):
            raise ModelError("markov model: expected an object with kind 'markov' and a 'successors' table")
        predictor = cls()
        try:
            predictor.successors = {
                str(key): {str(successor): int(count) for successor, count in counts.items()}
                for key, counts in data["successors"].items()
            }
        except (AttributeError, TypeError, ValueError) as error:
            raise ModelError(f"markov model: malformed successor table ({error})") from None
        return predictor
