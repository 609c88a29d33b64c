"""``memories train-predictor`` and ``memories eval-predictor``.

Both split the trace the same way (``--train-fraction``, default 0.7 of the first
``--max-records``): train-predictor learns from the head, eval-predictor replays the tail.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from memories.errors import ConfigError
from memories.optimization.predictive.evaluation.simulation import (
    SimulationResult,
    blended_predictions,
    capacity_for,
    format_table,
    markov_predictions,
    simulate_lru,
)
from memories.optimization.predictive.evaluation.traces import load_trace
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.serving.model_file import load_predictor
from memories.optimization.predictive.training.export import save_lstm, save_markov
from memories.optimization.predictive.training.fit import train_lstm
from memories.optimization.predictive.training.network import LSTMConfig


def register(subparsers: Any) -> None:
    """Add ``train-predictor`` and ``eval-predictor`` to the ``memories`` command."""
    train = subparsers.add_parser("train-predictor", help="train a prefetch model on an access trace")
    _common_arguments(train)
    train.add_argument("--model", choices=["lstm", "markov"], default="lstm")
    train.add_argument("--out", required=True, help="model file to write (ONNX for lstm, JSON for markov)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--features", default="time", help="comma-separated: time,location,type (empty: none)")
    train.add_argument("--target", choices=["auto", "key", "delta"], default="auto")
    train.add_argument("--vocabulary-size", type=int, default=8192)
    train.add_argument("--hidden-size", type=int, default=96)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=_train)
    evaluate = subparsers.add_parser("eval-predictor", help="compare a prefetch model with Markov and no prefetch")
    _common_arguments(evaluate)
    evaluate.add_argument("--model", required=True, help="model file written by train-predictor")
    evaluate.add_argument("--cache-shares", default="0.01,0.1", help="cache sizes as shares of distinct keys")
    evaluate.add_argument("--prefetch-k", type=int, default=1, help="keys prefetched after each request")
    evaluate.add_argument(
        "--admission", choices=["mru", "cold"], default="mru", help="where prefetched keys enter the LRU cache"
    )
    evaluate.add_argument("--min-probability", type=float, default=0.0, help="skip less likely LSTM predictions")
    evaluate.set_defaults(handler=_evaluate)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", required=True, help="int32be .trace[.xz], oracleGeneral .bin, .csv or .jsonl")
    parser.add_argument("--max-records", type=int, default=None, help="read only the first N records")
    parser.add_argument("--train-fraction", type=float, default=0.7, help="share of the records used for training")


def _split(arguments: argparse.Namespace) -> tuple[AccessColumns, AccessColumns]:
    if not 0 < arguments.train_fraction <= 1:
        raise ConfigError(f"--train-fraction must be in (0, 1], got {arguments.train_fraction}")

    def progress(count: int) -> None:
        print(f"\rread {count:,} records", end="", file=sys.stderr, flush=True)

    columns = load_trace(arguments.trace, max_records=arguments.max_records, progress=progress)
    print(file=sys.stderr)
    boundary = int(len(columns) * arguments.train_fraction)
    return columns.slice(0, boundary), columns.slice(boundary, len(columns))


def _train(arguments: argparse.Namespace) -> int:
    train_columns, _ = _split(arguments)
    started = time.perf_counter()
    if arguments.model == "markov":
        predictor = MarkovPredictor()
        predictor.train(train_columns.keys)
        save_markov(arguments.out, predictor)
    else:
        features = [name for name in arguments.features.split(",") if name]
        config = LSTMConfig(hidden_size=arguments.hidden_size, seed=arguments.seed)
        trained = train_lstm(
            train_columns,
            features=features,
            epochs=arguments.epochs,
            target=arguments.target,
            vocabulary_size=arguments.vocabulary_size,
            config=config,
        )
        save_lstm(arguments.out, trained.network, trained.encoder)
        print(f"target: {trained.encoder.target}, best epoch {trained.history.best_epoch}")
    print(f"trained on {len(train_columns):,} records in {time.perf_counter() - started:.1f}s -> {arguments.out}")
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    model = load_predictor(arguments.model)
    train_columns, test_columns = _split(arguments)
    shares = [float(share) for share in arguments.cache_shares.split(",") if share]
    distinct = len(set(train_columns.keys) | set(test_columns.keys))
    k = arguments.prefetch_k
    blended: list[list[str]] = []
    if isinstance(model, LstmPredictor):
        scored = list(model.predict_log_scored(test_columns, k))
        model_predictions = [[key for key, p in row if p >= arguments.min_probability] for row in scored]
        online = MarkovPredictor()
        online.train(train_columns.keys)
        blended = list(blended_predictions(scored, online, test_columns, k))
    else:
        model.train(train_columns.keys)
        model_predictions = list(markov_predictions(model, test_columns, k))
    results: list[SimulationResult] = []
    for share in shares:
        capacity = capacity_for(share, distinct)
        baseline = MarkovPredictor()
        baseline.train(train_columns.keys)
        admission = arguments.admission
        results += [
            simulate_lru("no prefetch", test_columns.keys, capacity),
            simulate_lru(
                "markov",
                test_columns.keys,
                capacity,
                markov_predictions(baseline, test_columns, k),
                admission=admission,
            ),
            simulate_lru(f"{model.kind} (model)", test_columns.keys, capacity, model_predictions, admission=admission),
        ]
        if blended:
            results.append(simulate_lru("lstm+markov", test_columns.keys, capacity, blended, admission=admission))
    print(f"{len(test_columns):,} test requests, {distinct:,} distinct keys, prefetch {k} key(s) per request")
    print(format_table(results))
    return 0
