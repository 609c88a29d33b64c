"""Frequent-token vocabularies with one out-of-vocabulary bucket (id 0).

Used for keys (the most frequent keys of the training log), key deltas, and the small
category vocabularies of the ``location`` and ``type`` features.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy

from memories.errors import ConfigError, ModelError

OUT_OF_VOCABULARY = 0


class Vocabulary:
    """Maps tokens (strings) to ids ``1..len(tokens)``; anything else maps to id 0 (OOV)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens: list[str] = list(tokens)
        self._ids = {token: index + 1 for index, token in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens):
            raise ModelError("vocabulary has duplicate tokens")

    @classmethod
    def build(cls, tokens: Iterable[str | None], max_size: int) -> Vocabulary:
        """Keep the ``max_size`` most frequent tokens (ties: first seen first); None is skipped."""
        if max_size < 1:
            raise ConfigError(f"vocabulary size must be >= 1, got {max_size}")
        counts = Counter(token for token in tokens if token is not None)
        return cls([token for token, _ in counts.most_common(max_size)])

    @property
    def size(self) -> int:
        """Number of ids including the OOV bucket."""
        return len(self.tokens) + 1

    def id_of(self, token: str | None) -> int:
        """Return the id of ``token`` (0 when unknown or None)."""
        return OUT_OF_VOCABULARY if token is None else self._ids.get(token, OUT_OF_VOCABULARY)

    def encode(self, tokens: Iterable[str | None]) -> numpy.ndarray:
        """Return the ids of ``tokens`` as an int64 array."""
        ids = self._ids
        return numpy.fromiter(
            (OUT_OF_VOCABULARY if token is None else ids.get(token, OUT_OF_VOCABULARY) for token in tokens),
            dtype=numpy.int64,
        )

    def token_of(self, token_id: int) -> str | None:
        """Return the token of ``token_id``, or None for the OOV bucket or an id out of range."""
        if 1 <= token_id <= len(self.tokens):
            return self.tokens[token_id - 1]
        return None

    def coverage(self, tokens: Sequence[str | None]) -> float:
        """Share (0..1) of ``tokens`` that are in the vocabulary."""
        if not tokens:
            return 0.0
        return float(numpy.count_nonzero(self.encode(tokens))) / len(tokens)
