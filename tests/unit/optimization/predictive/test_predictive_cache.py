from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from memories.errors import ConfigError, ModelError
from memories.optimization import CacheManager, PredictiveCache
from memories.optimization.predictive.training.network import LSTMConfig

if TYPE_CHECKING:
    from tests.unit.optimization.predictive.conftest import PeriodicLog


class RecordingCache:
    """Stands in for CacheManager where only the prefetch calls matter."""

    def __init__(self) -> None:
        self.prefetched: list[str] = []

    async def prefetch(self, key: str, value: object = None, ttl: object = None) -> bool:
        self.prefetched.append(key)
        return True

    def stats(self) -> object:
        raise AttributeError("no stats")


async def _loader(key: str) -> bytes:
    return f"value of {key}".encode()


def _markov_on_cycle(cache: object, **options: object) -> PredictiveCache:
    predictor = PredictiveCache(model="markov", features=[], cache=cache, **options)  # type: ignore[arg-type]
    for key in ["a", "b", "c"] * 5:
        predictor.record_access(key)
    return predictor


async def test_seed_block_runs() -> None:
    start = datetime.datetime(2024, 5, 1, 8, 0)
    historical_patterns = [
        {
            "key": f"tile/{index % 6}",
            "time": start + datetime.timedelta(seconds=index),
            "location": "eu",
            "type": "tile",
        }
        for index in range(300)
    ]
    predictor = PredictiveCache(model="lstm", features=["time", "location", "type"], cache_size="50GB")
    await predictor.train(access_patterns=historical_patterns, epochs=10)
    await predictor.prefetch_likely_data()
    assert predictor.predict(historical_patterns[:4], k=1) == ["tile/4"]


async def test_prefetch_goes_through_cache_manager_loader() -> None:
    cache = CacheManager(l1_size="1MB", loader=_loader)
    predictor = _markov_on_cycle(cache)
    assert await predictor.prefetch_likely_data() == 1  # after "c" comes "a"
    assert cache.get_nowait("a") == b"value of a"
    predictor.record_access("a")
    assert predictor.stats().precision == 1.0


async def test_key_rate_budget_limits_prefetches() -> None:
    cache = RecordingCache()
    predictor = PredictiveCache(model="markov", features=[], cache=cache, prefetch_rate=2, top_k=5, min_probability=0)
    for key in ["a", "b", "a", "c", "a", "d", "a", "e"]:
        predictor.record_access(key)
    predictor.record_access("a")
    await predictor.prefetch_likely_data()
    assert len(cache.prefetched) == 2
    assert predictor.stats().skipped_by_budget == 2


async def test_cache_size_caps_unused_prefetched_bytes() -> None:
    cache = RecordingCache()
    predictor = PredictiveCache(model="markov", features=[], cache=cache, cache_size=1000, top_k=3, min_probability=0)
    for key, size in [("a", 10), ("b", 600), ("a", 10), ("c", 600), ("a", 10), ("d", 300)]:
        predictor.record_access(key, size=size)
    predictor.record_access("a", size=10)
    await predictor.prefetch_likely_data()
    assert cache.prefetched == ["b", "d"]  # "c" would exceed 1000 bytes


async def test_background_prefetch_runs_until_stopped() -> None:
    cache = RecordingCache()
    predictor = _markov_on_cycle(cache, interval="10ms")
    predictor.start()
    await asyncio.sleep(0.05)
    await predictor.stop()
    assert cache.prefetched == ["a"]


def test_missing_model_is_model_error_and_cache_keeps_working(tmp_path: Path) -> None:
    cache = CacheManager(l1_size="1MB")
    with pytest.raises(ModelError, match="not found"):
        PredictiveCache(model="lstm", cache=cache, model_path=tmp_path / "missing.onnx")

    async def use_cache() -> object:
        await cache.set("k", b"v")
        return await cache.get("k")

    assert asyncio.run(use_cache()) == b"v"


def test_malformed_model_file_is_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"garbage")
    with pytest.raises(ModelError):
        PredictiveCache(model="lstm", model_path=path)


def test_unknown_feature_is_config_error() -> None:
    with pytest.raises(ConfigError, match="colour"):
        PredictiveCache(features=["time", "colour"])


def test_unknown_model_is_config_error() -> None:
    with pytest.raises(ConfigError, match="model"):
        PredictiveCache(model="transformer")


async def test_untrained_lstm_prefetches_nothing() -> None:
    cache = RecordingCache()
    predictor = PredictiveCache(model="lstm", cache=cache)
    predictor.record_access("a")
    assert await predictor.prefetch_likely_data() == 0
    assert cache.prefetched == []


async def test_saved_model_loads_into_a_new_predictor(
    tmp_path: Path, tiny_config: LSTMConfig, periodic_log: PeriodicLog
) -> None:
    predictor = PredictiveCache(model="lstm", features=["time"], lstm_config=tiny_config, progress=False)
    await predictor.train(periodic_log(5, 40), epochs=4)
    predictor.save(tmp_path / "model.onnx")
    served = PredictiveCache(model="lstm", features=["time"], model_path=tmp_path / "model.onnx")
    for record in periodic_log(5, 1)[:3]:
        served.record_access(str(record["key"]), time=float(record["time"]))  # type: ignore[arg-type]
    assert served.predict(k=1) == ["k3"]
    assert served.stats().inference_p99_ms is not None


async def test_online_markov_covers_keys_first_seen_after_training(
    tiny_config: LSTMConfig, periodic_log: PeriodicLog
) -> None:
    cache = RecordingCache()
    predictor = PredictiveCache(model="lstm", features=[], cache=cache, lstm_config=tiny_config, progress=False)
    await predictor.train(periodic_log(4, 30), epochs=2)
    for key in ["new-1", "new-2", "new-1"]:
        predictor.record_access(key)
    await predictor.prefetch_likely_data(k=1)
    assert cache.prefetched == ["new-2"]


def test_predict_with_history_does_not_teach_the_model() -> None:
    predictor = _markov_on_cycle(RecordingCache())
    assert predictor.predict(["x", "b"], k=1) == ["c"]
    assert predictor.predict(["c", "x"], k=1) == []
    assert predictor.predict(k=1) == ["a"]
