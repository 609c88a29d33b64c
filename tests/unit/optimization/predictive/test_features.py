from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError, ModelError
from memories.optimization.predictive.features import FeatureEncoder, key_deltas, time_features, validate_features
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.vocabulary import Vocabulary


def test_unknown_feature_is_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="weather"):
        validate_features(["time", "weather"])


def test_vocabulary_keeps_most_frequent_and_maps_rest_to_zero() -> None:
    vocabulary = Vocabulary.build(["a", "b", "a", "c", "a", "b"], max_size=2)
    assert vocabulary.tokens == ["a", "b"]
    assert vocabulary.encode(["a", "b", "c", None]).tolist() == [1, 2, 0, 0]
    assert vocabulary.token_of(0) is None


def test_time_features_are_cyclic_and_gap_is_log_seconds() -> None:
    features = time_features([0.0, 3600.0, 3600.0 + 86400.0])
    assert features.shape == (3, 5)
    numpy.testing.assert_allclose(features[1, :2], features[2, :2], atol=1e-5)
    assert features[1, 4] == pytest.approx(numpy.log1p(3600.0))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=50))
def test_delta_decoding_recovers_each_next_key(keys: list[int]) -> None:
    texts = [str(key) for key in keys]
    deltas = key_deltas(texts)
    following = [delta for delta in deltas[1:] if delta is not None]
    assert len(following) == len(texts) - 1  # only the first key has no delta
    encoder = FeatureEncoder([], "delta", {"key": Vocabulary([]), "delta": Vocabulary(sorted(set(following)))})
    for previous, delta, current in zip(texts, deltas[1:], texts[1:], strict=False):
        assert encoder.decode(encoder.vocabularies["delta"].id_of(delta), previous) == current


def test_delta_target_rejects_text_keys() -> None:
    columns = AccessColumns.from_records(["a", "b"])
    with pytest.raises(ConfigError, match="integer keys"):
        FeatureEncoder.fit(columns, [], "delta", vocabulary_size=10)


def test_encoder_round_trips_through_json() -> None:
    columns = AccessColumns.from_records([{"key": "a", "location": "eu"}, {"key": "b", "location": "us"}])
    encoder = FeatureEncoder.fit(columns, ["location", "time"], "key", vocabulary_size=10)
    again = FeatureEncoder.from_json(encoder.to_json())
    assert again.encode(columns).categorical["location"].tolist() == [1, 2]


def test_malformed_encoder_metadata_is_model_error() -> None:
    with pytest.raises(ModelError):
        FeatureEncoder.from_json({"features": ["time"]})
