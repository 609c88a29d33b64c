"""Turn an access log into model inputs: category ids, continuous time features, targets.

Features (names accepted in ``features=``):

- ``"time"``: hour of day and day of week as sin/cos pairs (UTC) and ``log1p`` of the gap to
  the previous access in seconds (5 float inputs).
- ``"location"``, ``"type"``: categories embedded by the model, each with its own small
  vocabulary (unknown values share the OOV id).

The key of each access is always an input. The prediction target is the next ``"key"`` or the
next key ``"delta"`` (next integer key minus current key; only for integer keys).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from memories.errors import ConfigError, ModelError
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.vocabulary import Vocabulary

KNOWN_FEATURES = ("time", "location", "type")
TARGETS = ("key", "delta")
TIME_FEATURE_COUNT = 5
SECONDS_PER_DAY = 86_400.0
CATEGORY_VOCABULARY_SIZE = 255


def validate_features(features: Sequence[str]) -> tuple[str, ...]:
    """Return ``features`` as a tuple in canonical order; ConfigError names any unknown one."""
    if isinstance(features, str):
        raise ConfigError(f"features: expected a list of names, got the string {features!r}")
    unknown = [name for name in features if name not in KNOWN_FEATURES]
    if unknown:
        raise ConfigError(f"features: unknown feature(s) {unknown}; known features are {list(KNOWN_FEATURES)}")
    return tuple(name for name in KNOWN_FEATURES if name in features)


def key_deltas(keys: Sequence[str]) -> list[str | None]:
    """Return ``str(int(key[i]) - int(key[i-1]))`` per position (None at 0); ConfigError for non-integer keys."""
    try:
        numbers = [int(key) for key in keys]
    except ValueError:
        raise ConfigError("target 'delta' needs integer keys; this log has non-integer keys") from None
    return [None] + [str(current - previous) for previous, current in itertools.pairwise(numbers)]


def time_features(times: Sequence[float]) -> numpy.ndarray:
    """Return float32 ``[len(times), 5]``: hour sin/cos, weekday sin/cos, log1p(gap seconds)."""
    seconds = numpy.asarray(times, dtype=numpy.float64)
    day_angle = 2 * math.pi * numpy.mod(seconds, SECONDS_PER_DAY) / SECONDS_PER_DAY
    # the Unix epoch was a Thursday: shift so that Monday is day 0
    week_angle = 2 * math.pi * numpy.mod(seconds / SECONDS_PER_DAY + 3.0, 7.0) / 7.0
    gaps = numpy.diff(seconds, prepend=seconds[:1]) if len(seconds) else seconds
    columns = [
        numpy.sin(day_angle),
        numpy.cos(day_angle),
        numpy.sin(week_angle),
        numpy.cos(week_angle),
        numpy.log1p(numpy.maximum(gaps, 0.0)),
    ]
    return numpy.stack(columns, axis=1).astype(numpy.float32)


@dataclass(slots=True)
class EncodedLog:
    """Model inputs per access: ``categorical[name]`` int64 ``[N]``, ``continuous`` float32 ``[N, F]``,
    ``targets`` int64 ``[N]`` (the target token id of the *next* access; the last one is 0)."""

    categorical: dict[str, numpy.ndarray]
    continuous: numpy.ndarray
    targets: numpy.ndarray

    def __len__(self) -> int:
        return len(self.targets)


class FeatureEncoder:
    """Encodes logs consistently with the vocabularies learned from the training log."""

    def __init__(self, features: Sequence[str], target: str, vocabularies: dict[str, Vocabulary]) -> None:
        self.features = validate_features(features)
        if target not in TARGETS:
            raise ConfigError(f"target: expected one of {TARGETS}, got {target!r}")
        self.target = target
        self.vocabularies = vocabularies
        missing = [name for name in self.categorical_names if name not in vocabularies]
        if missing:
            raise ModelError(f"feature encoder lacks vocabularies for {missing}")

    @property
    def categorical_names(self) -> list[str]:
        """Names of the embedded inputs, in model input order."""
        names = ["key"] + (["delta"] if self.target == "delta" else [])
        return names + [name for name in ("location", "type") if name in self.features]

    @property
    def continuous_size(self) -> int:
        """Number of float inputs per access."""
        return TIME_FEATURE_COUNT if "time" in self.features else 0

    @property
    def target_vocabulary(self) -> Vocabulary:
        """The vocabulary that the model's output ranges over."""
        return self.vocabularies[self.target]

    @classmethod
    def fit(
        cls, columns: AccessColumns, features: Sequence[str], target: str, *, vocabulary_size: int
    ) -> FeatureEncoder:
        """Learn vocabularies from ``columns``: ``vocabulary_size`` most frequent keys (and deltas)."""
        features = validate_features(features)
        vocabularies = {"key": Vocabulary.build(columns.keys, vocabulary_size)}
        if target == "delta":
            vocabularies["delta"] = Vocabulary.build(key_deltas(columns.keys), vocabulary_size)
        if "location" in features:
            vocabularies["location"] = Vocabulary.build(columns.locations, CATEGORY_VOCABULARY_SIZE)
        if "type" in features:
            vocabularies["type"] = Vocabulary.build(columns.types, CATEGORY_VOCABULARY_SIZE)
        return cls(features, target, vocabularies)

    def encode(self, columns: AccessColumns) -> EncodedLog:
        """Encode ``columns``; raises ConfigError for non-integer keys in delta mode."""
        sources: dict[str, Sequence[str | None]] = {
            "key": columns.keys,
            "location": columns.locations,
            "type": columns.types,
        }
        if self.target == "delta":
            sources["delta"] = key_deltas(columns.keys)
        categorical = {name: self.vocabularies[name].encode(sources[name]) for name in self.categorical_names}
        if self.continuous_size:
            continuous = time_features(columns.times)
        else:
            continuous = numpy.zeros((len(columns), 0), dtype=numpy.float32)
        current = categorical[self.target] if self.target in categorical else categorical["key"]
        targets = numpy.zeros(len(columns), dtype=numpy.int64)
        targets[:-1] = current[1:]
        return EncodedLog(categorical, continuous, targets)

    def decode(self, token_id: int, last_key: str) -> str | None:
        """Return the key that target id ``token_id`` predicts after ``last_key`` (None for OOV)."""
        token = self.target_vocabulary.token_of(token_id)
        if token is None or self.target == "key":
            return token
        try:
            return str(int(last_key) + int(token))
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serializable description (stored in the model file)."""
        return {
            "features": list(self.features),
            "target": self.target,
            "vocabularies": {name: vocabulary.tokens for name, vocabulary in self.vocabularies.items()},
        }

    @classmethod
    def from_json(cls, data: object) -> FeatureEncoder:
        """Rebuild an encoder from :meth:`to_json` output; ModelError when malformed."""
        if not isinstance(data, dict):
            raise ModelError("model metadata: feature configuration is not an object")
        try:
            vocabularies = {name: Vocabulary(list(map(str, tokens))) for name, tokens in data["vocabularies"].items()}
            return cls(list(data["features"]), str(data["target"]), vocabularies)
        except (KeyError, TypeError, AttributeError, ConfigError) as error:
            raise ModelError(f"model metadata: malformed feature configuration ({error!r})") from None
