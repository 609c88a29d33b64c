"""Prefetch in the agent: a model file from a mounted path feeds on every read and loads what comes next;
a missing or malformed model is reported while the cache keeps serving."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import redis

from memories.optimization.predictive import PredictiveCache
from tests.sidecar.conftest import RunningSidecar, sidecar_document
from tests.sidecar.test_http_api import request

KEYS = [f"tile:{index}" for index in range(60)]


def train_markov_model(path: Path) -> Path:
    """A Markov model of the cyclic walk tile:0 → tile:1 → … → tile:59 → tile:0."""
    predictor = PredictiveCache(model="markov", features=["time"], cache_size="1MB", progress=False)
    history = [{"key": KEYS[step % len(KEYS)], "time": 1_700_000_000 + step} for step in range(len(KEYS) * 5)]
    asyncio.run(predictor.train(access_patterns=history, epochs=1))
    predictor.save(path)
    return path


def prefetch_document(tmp_path: Path, model_path: Path) -> dict[str, object]:
    return sidecar_document(
        {
            # L1 holds ~10 of the 60 values; the rest live in L2, where prefetch finds them.
            "cache": {"l1Size": "24KB", "l2Size": "8MB", "l2Path": str(tmp_path / "l2")},
            "prefetch": {"modelPath": str(model_path), "model": "markov", "features": ["time"]},
        }
    )


def status(sidecar: RunningSidecar) -> dict[str, object]:
    code, body = sidecar.call(request(sidecar, "GET", "/v1/prefetch/status", "/v1/prefetch/status"))
    assert code == 200
    return dict(json.loads(body))


def test_reads_feed_the_model_and_next_keys_are_prefetched(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    sidecar = start_sidecar(prefetch_document(tmp_path, train_markov_model(tmp_path / "model.json")))
    client = redis.Redis(port=sidecar.resp_port, protocol=2)
    for key in KEYS:
        client.set(key, key.encode() * 100)
    loaded = status(sidecar)
    assert loaded["loaded"] is True and loaded["error"] is None
    deadline = time.monotonic() + 20
    stats: dict[str, float] = {}
    while time.monotonic() < deadline:
        for key in KEYS:
            assert client.get(key) == key.encode() * 100
            time.sleep(0.005)
        stats = status(sidecar)["stats"]  # type: ignore[assignment]
        if stats["prefetched"] > 0 and stats["prefetchUsed"] > 0:
            break
    assert stats["accesses"] >= len(KEYS)
    assert stats["prefetched"] > 0, stats
    assert stats["prefetchUsed"] > 0, stats


def test_malformed_model_is_reported_and_the_cache_keeps_serving(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"this is not an ONNX model")
    sidecar = start_sidecar(prefetch_document(tmp_path, broken))
    reported = status(sidecar)
    assert reported["loaded"] is False
    assert isinstance(reported["error"], str) and reported["error"]
    assert "stats" not in reported
    client = redis.Redis(port=sidecar.resp_port, protocol=2)
    assert client.set("still", b"works") and client.get("still") == b"works"
