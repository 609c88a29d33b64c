"""Benchmark: LSTM prefetch vs Markov prefetch vs no prefetch, next to libcachesim policies.

For each trace: train on the first 70% of the (optionally truncated) log, replay the rest
through a count-based LRU cache of 1% and 10% of the trace's distinct keys (sizes from
/work/shared/traces/README.md) with no prefetch, Markov prefetch and LSTM prefetch (one key
per request), and run libcachesim's LRU, S3-FIFO and Belady on the same test split.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/predictive.py [--orm-records 1000000] [--epochs 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import libcachesim
import numpy

from memories.optimization.predictive.evaluation.simulation import blended_predictions, markov_predictions, simulate_lru
from memories.optimization.predictive.evaluation.traces import ORACLE_GENERAL_RECORD, load_trace
from memories.optimization.predictive.features import key_deltas
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.serving.inference import OnnxSequenceModel
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.training.export import export_network
from memories.optimization.predictive.training.fit import TARGET_PROBE_RECORDS, markov_accuracy, train_lstm
from memories.optimization.predictive.training.network import LSTMConfig

TRACES = Path("/work/shared/traces")
#: (file, cache entries at 1% and 10% of the whole trace's distinct keys)
TRACE_SIZES = {
    "orm-busy.trace.xz": (763, 7634),
    "cloudPhysicsIO.oracleGeneral.bin": (489, 4897),
}


def libcachesim_hit_ratios(keys: list[str], capacity: int) -> dict[str, float]:
    """Hit ratios of LRU, S3-FIFO and Belady (object sizes 1) on ``keys``."""
    ids: dict[str, int] = {}
    dense = numpy.array([ids.setdefault(key, len(ids) + 1) for key in keys], dtype=numpy.uint64)
    next_access = numpy.full(len(keys), -1, dtype=numpy.int64)
    last_seen: dict[int, int] = {}
    for index in range(len(keys) - 1, -1, -1):
        next_access[index] = last_seen.get(int(dense[index]), -1)
        last_seen[int(dense[index])] = index
    records = numpy.zeros(len(keys), dtype=ORACLE_GENERAL_RECORD)
    records["time"], records["id"], records["size"], records["next"] = numpy.arange(len(keys)), dense, 1, next_access
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "test.oracleGeneral.bin"
        records.tofile(path)
        for name, policy in (("LRU", libcachesim.LRU), ("S3-FIFO", libcachesim.S3FIFO), ("Belady", libcachesim.Belady)):
            reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.ORACLE_GENERAL_TRACE)
            miss_ratio, _ = policy(capacity).process_trace(reader)
            results[name] = 1.0 - miss_ratio
    return results


def inference_latency(predictor: LstmPredictor, columns: AccessColumns, steps: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of one live prediction step (encode + onnxruntime + decode)."""
    samples = []
    for record in list(columns.records())[:steps]:
        started = time.perf_counter()
        predictor.observe(record)
        predictor.predict(1)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3, float(numpy.percentile(samples, 99)) * 1e3


def run_trace(name: str, max_records: int | None, epochs: int, target: str, hidden: int) -> dict[str, object]:
    print(f"== {name}", file=sys.stderr)
    columns = load_trace(TRACES / name, max_records=max_records)
    boundary = int(len(columns) * 0.7)
    train, test = columns.slice(0, boundary), columns.slice(boundary, len(columns))
    probe_keys = train.keys[:TARGET_PROBE_RECORDS]
    probe = {"key": markov_accuracy(probe_keys), "delta": markov_accuracy(key_deltas(probe_keys))}
    config = LSTMConfig(hidden_size=hidden)
    started = time.perf_counter()
    trained = train_lstm(train, features=["time"], epochs=epochs, target=target, config=config)
    training_seconds = time.perf_counter() - started
    predictor = LstmPredictor(trained.encoder, OnnxSequenceModel(export_network(trained.network).SerializeToString()))
    lstm_scored = list(predictor.predict_log_scored(test, 1))
    lstm_predictions = [[key for key, _ in scored] for scored in lstm_scored]
    p50, p99 = inference_latency(predictor, test, 3000)
    rows = []
    for capacity in TRACE_SIZES[name]:
        markov = MarkovPredictor()
        markov.train(train.keys)
        simulations = [
            simulate_lru("no prefetch", test.keys, capacity),
            simulate_lru("markov", test.keys, capacity, markov_predictions(markov, test, 1)),
            simulate_lru("lstm", test.keys, capacity, lstm_predictions),
        ]
        blend_markov = MarkovPredictor()
        blend_markov.train(train.keys)
        blended = blended_predictions(lstm_scored, blend_markov, test, 1)
        blended_list = list(blended)
        simulations.append(simulate_lru("lstm+markov", test.keys, capacity, blended_list))
        simulations.append(simulate_lru("lstm+markov cold", test.keys, capacity, blended_list, admission="cold"))
        cold_markov = MarkovPredictor()
        cold_markov.train(train.keys)
        simulations.append(
            simulate_lru("markov cold", test.keys, capacity, markov_predictions(cold_markov, test, 1), admission="cold")
        )
        rows.append(
            {
                "capacity": capacity,
                "libcachesim": libcachesim_hit_ratios(test.keys, capacity),
                **{
                    result.name: {
                        "hit_ratio": result.hit_ratio,
                        "precision": result.precision,
                        "prefetched": result.prefetched,
                        "top1": result.top1_accuracy,
                    }
                    for result in simulations
                },
            }
        )
    return {
        "trace": name,
        "records": len(columns),
        "train_records": len(train),
        "test_records": len(test),
        "markov_probe_top1_on_train": probe,
        "target": trained.encoder.target,
        "training_seconds": training_seconds,
        "epochs": [dataclasses.asdict(epoch) for epoch in trained.history.epochs],
        "best_epoch": trained.history.best_epoch,
        "inference_ms_p50": p50,
        "inference_ms_p99": p99,
        "load_average_1min": os.getloadavg()[0],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orm-records", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--target", default="auto", choices=["auto", "key", "delta"])
    parser.add_argument("--hidden-size", type=int, default=96)
    parser.add_argument("--traces", default=",".join(TRACE_SIZES))
    arguments = parser.parse_args()
    results = []
    for name in arguments.traces.split(","):
        limit = arguments.orm_records if name.startswith("orm") else None
        results.append(run_trace(name, limit, arguments.epochs, arguments.target, arguments.hidden_size))
        print(json.dumps(results[-1], indent=1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
