"""Side-by-side replays for ``memories eval-predictor``: no prefetch, the online Markov baseline and a model,
for several cache sizes, eviction policies and admission rules, and their miss-ratio curves."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from memories.optimization.predictive.evaluation.belady import belady_hits
from memories.optimization.predictive.evaluation.curves import MissRatioCurve
from memories.optimization.predictive.evaluation.simulation import (
    SimulationResult,
    blended_predictions,
    markov_predictions,
    simulate,
)
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.progress import Progress
from memories.optimization.predictive.records import AccessColumns
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.serving.model_file import Predictor

Item = TypeVar("Item")

NO_PREFETCH = "no prefetch"
MARKOV = "markov"


@dataclass(frozen=True, slots=True)
class PredictionSet:
    """The keys one predictor would prefetch after each test request."""

    name: str
    keys: list[list[str]]


def _counted(items: Iterable[Item], total: int, what: str, progress: Progress) -> Iterator[Item]:
    for index, item in enumerate(items, 1):
        if index % 4096 == 0:
            progress.update(f"{what}: {index:,}/{total:,} requests")
        yield item


def prediction_sets(
    model: Predictor,
    train: AccessColumns,
    test: AccessColumns,
    k: int,
    *,
    min_probability: float,
    progress: Progress,
) -> list[PredictionSet]:
    """The online Markov baseline, the model (trained Markov models keep learning online) and, for an LSTM,
    the LSTM blended with an online Markov model (the agent's default); ``k`` keys per request."""
    started = time.perf_counter()
    baseline = MarkovPredictor()
    baseline.train(train.keys)
    sets = [PredictionSet(MARKOV, list(_counted(markov_predictions(baseline, test, k), len(test), MARKOV, progress)))]
    if isinstance(model, LstmPredictor):
        name = f"{model.kind} (model)"
        scored = list(_counted(model.predict_log_scored(test, k), len(test), name, progress))
        sets.append(PredictionSet(name, [[key for key, p in row if p >= min_probability] for row in scored]))
        online = MarkovPredictor()
        online.train(train.keys)
        blended = blended_predictions(scored, online, test, k)
        sets.append(PredictionSet("lstm+markov", list(_counted(blended, len(test), "lstm+markov", progress))))
    else:
        model.train(train.keys)
        sets.append(PredictionSet(f"{model.kind} (model)", list(markov_predictions(model, test, k))))
    progress.done(f"predictions for {len(test):,} requests in {time.perf_counter() - started:.1f} s")
    return sets


def compare(
    keys: Sequence[str],
    capacities: Sequence[int],
    policies: Sequence[str],
    admissions: Sequence[str],
    sets: Sequence[PredictionSet],
    *,
    progress: Progress,
) -> list[SimulationResult]:
    """Replay ``keys`` for every capacity × policy: once without prefetch, then per admission rule with
    each prediction set. One progress line per replay."""
    runs: list[tuple[int, str, str | None, PredictionSet | None]] = [
        (capacity, policy, None, None) for capacity in capacities for policy in policies
    ]
    runs += [
        (capacity, policy, admission, prediction_set)
        for capacity in capacities
        for policy in policies
        for admission in admissions
        for prediction_set in sets
    ]
    results = []
    for number, (capacity, policy, admission, prediction_set) in enumerate(runs, 1):
        started = time.perf_counter()
        if prediction_set is None:
            result = simulate(NO_PREFETCH, keys, capacity, policy=policy)
        else:
            result = simulate(
                prediction_set.name, keys, capacity, prediction_set.keys, policy=policy, admission=admission or "cold"
            )
        results.append(result)
        progress.done(
            f"[{number}/{len(runs)}] {result.name}, {policy}, {capacity:,} entries"
            + (f", {admission} admission" if admission else "")
            + f": hit ratio {result.hit_ratio:.4f} ({time.perf_counter() - started:.1f} s)"
        )
    return results


def miss_ratio_curves(
    keys: Sequence[str],
    sizes: Sequence[int],
    policies: Sequence[str],
    prefetch: PredictionSet | None,
    *,
    progress: Progress,
) -> list[MissRatioCurve]:
    """Per policy the curve without prefetch and (with ``prefetch``) with it under the agent's admission
    rule, then Belady's optimum (eviction alone)."""
    curves = []
    for policy in policies:
        plain = MissRatioCurve(policy, "eviction", policy)
        curves.append(plain)
        with_prefetch = None
        if prefetch is not None:
            with_prefetch = MissRatioCurve(f"{policy} + {prefetch.name} prefetch", "prefetch", policy)
            curves.append(with_prefetch)
        for size in sizes:
            plain.add(size, simulate(NO_PREFETCH, keys, size, policy=policy).miss_ratio)
            if with_prefetch is not None and prefetch is not None:
                result = simulate(prefetch.name, keys, size, prefetch.keys, policy=policy)
                with_prefetch.add(size, result.miss_ratio)
            progress.done(f"curve {policy}: {size:,} entries done")
    optimum = MissRatioCurve("Belady (optimal eviction, no prefetch)", "optimum")
    for size in sizes:
        optimum.add(size, 1.0 - belady_hits(keys, size) / max(len(keys), 1))
    curves.append(optimum)
    return curves
