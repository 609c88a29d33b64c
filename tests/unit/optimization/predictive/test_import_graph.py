"""The agent serves models but never trains or exports them: its import graph holds no training code."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.training.export import save_lstm, save_markov
from memories.optimization.predictive.training.fit import train_lstm
from memories.optimization.predictive.training.network import LSTMConfig

if TYPE_CHECKING:
    from tests.unit.optimization.predictive.conftest import PeriodicLog

#: Packages the agent must not load: the training and offline-evaluation code, and the ONNX builder library
#: (onnxruntime, which serves the model, is a different package).
FORBIDDEN = ("memories.optimization.predictive.training", "memories.optimization.predictive.evaluation", "onnx")


def _forbidden(module: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in FORBIDDEN)


# What memories/sidecar/engine.py's load_prefetch does with a model file, then a few reads and a prefetch round.
AGENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib, json, pkgutil, sys
    import memories.sidecar
    for module in pkgutil.walk_packages(memories.sidecar.__path__, "memories.sidecar."):
        if module.name != "memories.sidecar.__main__":
            importlib.import_module(module.name)
    from memories.optimization import CacheManager
    from memories.optimization.predictive import PredictiveCache

    async def serve(model, path):
        cache = CacheManager(l1_size="1MB", loader=lambda key: b"value")
        predictor = PredictiveCache(model=model, features=["time"], cache_size="1MB", cache=cache, model_path=path)
        cache.access_observer = predictor.record_access
        for key in ["k0", "k1", "k2", "k3"] * 3:
            await cache.get(key)
        predictor.start()
        await predictor.prefetch_likely_data()
        await predictor.stop()
        return predictor.stats().accesses

    served = [asyncio.run(serve(model, path)) for model, path in json.loads(sys.argv[1])]
    print(json.dumps({"served": served, "modules": sorted(sys.modules)}))
    """
)


@pytest.fixture
def model_files(tmp_path: Path, periodic_log: PeriodicLog) -> list[tuple[str, str]]:
    columns = AccessColumns.from_records(periodic_log(4, 20))
    config = LSTMConfig(embedding_size=8, hidden_size=8, window=8, batch_size=4, min_steps_per_epoch=5)
    trained = train_lstm(columns, features=["time"], epochs=1, target="key", config=config, progress=False)
    save_lstm(tmp_path / "model.onnx", trained.network, trained.encoder)
    markov = MarkovPredictor()
    markov.train(columns.keys)
    save_markov(tmp_path / "model.json", markov)
    return [("lstm", str(tmp_path / "model.onnx")), ("markov", str(tmp_path / "model.json"))]


def test_agent_serving_models_imports_no_training_or_export_code(model_files: list[tuple[str, str]]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", AGENT_SCRIPT, json.dumps(model_files)], capture_output=True, text=True, check=True
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["served"] == [12, 12]  # both models were loaded and fed every read
    assert "onnxruntime" in report["modules"]  # the LSTM was really served
    assert [name for name in report["modules"] if _forbidden(name)] == []
