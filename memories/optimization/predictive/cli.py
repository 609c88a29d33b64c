"""``memories train-predictor`` and ``memories eval-predictor``.

Both split the trace the same way (``--train-fraction``, default 0.7 of the first
``--max-records``): train-predictor learns from the head, eval-predictor replays the tail.
eval-predictor replays through the agent's eviction policies with the agent's prefetch admission
rule ("cold") and, for comparison, the unguarded one ("mru"); ``--plot`` draws miss-ratio curves.
Progress goes to stderr (one line per step when stderr is not a terminal), results to stdout.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from memories.errors import ConfigError
from memories.optimization.predictive.records import AccessColumns

DEFAULT_CURVE_SHARES = "0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2"


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
    evaluate.add_argument(
        "--cache-shares", default="0.01,0.1", help="cache sizes as shares of distinct keys (truncated, as libcachesim)"
    )
    evaluate.add_argument(
        "--policies", default="lru", help="comma-separated eviction policies (lru,lfu,s3fifo,wtinylfu)"
    )
    evaluate.add_argument("--prefetch-k", type=int, default=1, help="keys prefetched after each request")
    evaluate.add_argument(
        "--admission",
        choices=["both", "cold", "mru"],
        default="both",
        help="how prefetched keys enter the cache: cold = the agent's rule (CacheManager.prefetch), mru = unguarded",
    )
    evaluate.add_argument("--min-probability", type=float, default=0.0, help="skip less likely LSTM predictions")
    evaluate.add_argument(
        "--plot", help="draw miss-ratio curves into this image file (e.g. curve.png; needs matplotlib)"
    )
    evaluate.add_argument("--curve-shares", default=DEFAULT_CURVE_SHARES, help="cache sizes of the curves (shares)")
    evaluate.set_defaults(handler=_evaluate)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    from memories.optimization.predictive.evaluation.traces import TRACE_FORMATS

    parser.add_argument("--trace", required=True, help="access trace or log (see --trace-format), may end in .xz/.zst")
    parser.add_argument(
        "--trace-format",
        choices=TRACE_FORMATS,
        help="format of --trace (default: from its name: .trace int32be, .lis arc, *oracleGeneral*, .csv, .jsonl)",
    )
    parser.add_argument("--max-records", type=int, default=None, help="read only the first N records")
    parser.add_argument("--train-fraction", type=float, default=0.7, help="share of the records used for training")


def _shares(text: str, option: str) -> list[float]:
    try:
        shares = [float(share) for share in text.split(",") if share.strip()]
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not shares or any(not 0 < share <= 1 for share in shares):
        raise ConfigError(f"{option}: every share must be in (0, 1], got {text!r}")
    return shares


def _split(arguments: argparse.Namespace) -> tuple[AccessColumns, AccessColumns]:
    from memories.optimization.predictive.evaluation.traces import load_trace
    from memories.optimization.predictive.progress import Progress

    if not 0 < arguments.train_fraction <= 1:
        raise ConfigError(f"--train-fraction must be in (0, 1], got {arguments.train_fraction}")
    progress = Progress()
    started = time.perf_counter()
    columns = load_trace(
        arguments.trace,
        max_records=arguments.max_records,
        trace_format=arguments.trace_format,
        progress=lambda count: progress.update(f"read {count:,} records"),
    )
    progress.done(f"read {len(columns):,} records from {arguments.trace} in {time.perf_counter() - started:.1f} s")
    boundary = int(len(columns) * arguments.train_fraction)
    return columns.slice(0, boundary), columns.slice(boundary, len(columns))


def _train(arguments: argparse.Namespace) -> int:
    from memories.optimization.predictive.markov import MarkovPredictor
    from memories.optimization.predictive.training.export import save_lstm, save_markov
    from memories.optimization.predictive.training.fit import train_lstm
    from memories.optimization.predictive.training.network import LSTMConfig

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
    from memories.optimization.cache.policies import policy_class
    from memories.optimization.predictive.evaluation.compare import (
        NO_PREFETCH,
        compare,
        miss_ratio_curves,
        prediction_sets,
    )
    from memories.optimization.predictive.evaluation.curves import plot_miss_ratio_curves
    from memories.optimization.predictive.evaluation.simulation import ADMISSION_LABELS, capacity_for, format_table
    from memories.optimization.predictive.progress import Progress
    from memories.optimization.predictive.serving.model_file import load_predictor

    model = load_predictor(arguments.model)
    shares = _shares(arguments.cache_shares, "--cache-shares")
    curve_shares = _shares(arguments.curve_shares, "--curve-shares") if arguments.plot else []
    policies = [name.strip().lower() for name in arguments.policies.split(",") if name.strip()]
    for name in policies:
        policy_class(name)  # a ConfigError listing the valid names, before minutes of work
    admissions = ["cold", "mru"] if arguments.admission == "both" else [arguments.admission]
    train_columns, test_columns = _split(arguments)
    progress = Progress()
    distinct = len(set(train_columns.keys) | set(test_columns.keys))
    k = arguments.prefetch_k
    sets = prediction_sets(
        model, train_columns, test_columns, k, min_probability=arguments.min_probability, progress=progress
    )
    capacities = [capacity_for(share, distinct) for share in shares]
    results = compare(test_columns.keys, capacities, policies, admissions, sets, progress=progress)
    print(f"{len(test_columns):,} test requests, {distinct:,} distinct keys, prefetch {k} key(s) per request")
    for admission in admissions:
        print(f"\nadmission {admission} ({ADMISSION_LABELS[admission]}):")
        rows = [result for result in results if result.name == NO_PREFETCH or result.admission == admission]
        print(format_table(sorted(rows, key=lambda result: (result.capacity, result.policy))))
    if arguments.plot:
        sizes = sorted({capacity_for(share, distinct) for share in curve_shares})
        curves = miss_ratio_curves(test_columns.keys, sizes, policies, sets[-1], progress=progress)
        plot_miss_ratio_curves(
            curves,
            arguments.plot,
            title=f"{arguments.trace.rsplit('/', 1)[-1]}: {len(test_columns):,} test requests",
            distinct_keys=distinct,
        )
        print(f"\nmiss-ratio curves -> {arguments.plot}")
    return 0
