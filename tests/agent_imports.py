"""The agent's import graph, checked by running what the agent runs in a separate interpreter.

Used by tests/unit/optimization/predictive/test_import_graph.py (this checkout's environment) and by
tests/delivery/test_wheel.py (a fresh virtualenv holding the built wheel and the base dependencies only).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.training.export import save_lstm, save_markov
from memories.optimization.predictive.training.fit import train_lstm
from memories.optimization.predictive.training.network import LSTMConfig

#: Packages the agent must not load: the training and offline-evaluation code, and the ONNX builder library
#: (onnxruntime, which serves the model, is a different package).
FORBIDDEN = ("memories.optimization.predictive.training", "memories.optimization.predictive.evaluation", "onnx")

# Every module of memories.sidecar imported, then what memories/sidecar/engine.py's load_prefetch does with a model
# file, a few reads and a prefetch round.
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
    print(json.dumps({"served": served, "modules": sorted(sys.modules), "memories": memories.__file__}))
    """
)


def forbidden(module: str) -> bool:
    """True for a module of :data:`FORBIDDEN` (a package or one of its submodules)."""
    return any(module == package or module.startswith(package + ".") for package in FORBIDDEN)


def write_models(directory: Path) -> list[tuple[str, str]]:
    """Train a tiny LSTM and a Markov model on a periodic log; returns (model kind, file) pairs for the script."""
    log = [{"key": f"k{index % 4}", "time": 1_700_000_000 + index} for index in range(4 * 20)]
    columns = AccessColumns.from_records(log)
    config = LSTMConfig(embedding_size=8, hidden_size=8, window=8, batch_size=4, min_steps_per_epoch=5)
    trained = train_lstm(columns, features=["time"], epochs=1, target="key", config=config, progress=False)
    save_lstm(directory / "model.onnx", trained.network, trained.encoder)
    markov = MarkovPredictor()
    markov.train(columns.keys)
    save_markov(directory / "model.json", markov)
    return [("lstm", str(directory / "model.onnx")), ("markov", str(directory / "model.json"))]


def run_agent_script(python: str, models: list[tuple[str, str]], **run: Any) -> dict[str, Any]:
    """Run :data:`AGENT_SCRIPT` with ``python``; returns its report (models served, modules loaded, package path)."""
    completed = subprocess.run(
        [python, "-c", AGENT_SCRIPT, json.dumps(models)], capture_output=True, text=True, check=False, **run
    )
    assert completed.returncode == 0, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return report


def check_agent_report(report: dict[str, Any]) -> None:
    """Both models were loaded and fed every read, the LSTM through onnxruntime, and nothing forbidden was loaded."""
    assert report["served"] == [12, 12]
    assert "onnxruntime" in report["modules"]
    assert [name for name in report["modules"] if forbidden(name)] == []
