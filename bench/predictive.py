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
import time
from pathlib import Path

import numpy
from bench_traces import add_trace_arguments, libcachesim_miss_ratios, require_libcachesim, trace_paths

from memories.optimization.predictive.evaluation.simulation import (
    blended_predictions,
    capacity_for,
    markov_predictions,
    simulate,
)
from memories.optimization.predictive.evaluation.traces import load_trace
from memories.optimization.predictive.features import key_deltas
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.serving.inference import OnnxSequenceModel
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.training.export import export_network
from memories.optimization.predictive.training.fit import TARGET_PROBE_RECORDS, markov_accuracy, train_lstm
from memories.optimization.predictive.training.network import LSTMConfig

CACHE_SHARES = (0.01, 0.1)


def inference_latency(predictor: LstmPredictor, columns: AccessColumns, steps: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of one live prediction step (encode + onnxruntime + decode)."""
    samples = []
    for record in list(columns.records())[:steps]:
        started = time.perf_counter()
        predictor.observe(record)
        predictor.predict(1)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3, float(numpy.percentile(samples, 99)) * 1e3


def run_trace(path: Path, arguments: argparse.Namespace) -> dict[str, object]:
    print(f"== {path}", file=sys.stderr)
    columns = load_trace(path, max_records=arguments.max_records, trace_format=arguments.trace_format)
    epochs, target, hidden = arguments.epochs, arguments.target, arguments.hidden_size
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
    distinct = len(set(columns.keys))
    for capacity in [capacity_for(share, distinct) for share in CACHE_SHARES]:
        markov = MarkovPredictor()
        markov.train(train.keys)
        simulations = [
            simulate("no prefetch", test.keys, capacity),
            simulate("markov", test.keys, capacity, markov_predictions(markov, test, 1), admission="mru"),
            simulate("lstm", test.keys, capacity, lstm_predictions, admission="mru"),
        ]
        blend_markov = MarkovPredictor()
        blend_markov.train(train.keys)
        blended = blended_predictions(lstm_scored, blend_markov, test, 1)
        blended_list = list(blended)
        simulations.append(simulate("lstm+markov", test.keys, capacity, blended_list, admission="mru"))
        simulations.append(simulate("lstm+markov cold", test.keys, capacity, blended_list, admission="cold"))
        cold_markov = MarkovPredictor()
        cold_markov.train(train.keys)
        simulations.append(
            simulate("markov cold", test.keys, capacity, markov_predictions(cold_markov, test, 1), admission="cold")
        )
        rows.append(
            {
                "capacity": capacity,
                "libcachesim": {
                    name: 1.0 - ratios[0]
                    for name, ratios in libcachesim_miss_ratios(
                        test.keys, [capacity], ["LRU", "S3FIFO", "Belady"]
                    ).items()
                },
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
        "trace": str(path),
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
    add_trace_arguments(parser, default_max_records=1_000_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--target", default="auto", choices=["auto", "key", "delta"])
    parser.add_argument("--hidden-size", type=int, default=96)
    arguments = parser.parse_args()
    require_libcachesim()
    results = []
    for path in trace_paths(arguments):
        results.append(run_trace(path, arguments))
        print(json.dumps(results[-1], indent=1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
