"""PredictiveCache: predicts the next accesses and prefetches them into a CacheManager.

The cache is any object with ``async prefetch(key, value=None, ttl=None) -> bool`` and
``stats()`` (:class:`memories.optimization.CacheManager`); without one, a CacheManager with an
L1 of ``cache_size`` is created on first use. Prefetching loads values through the cache's
L2/L3 or ``loader`` and the cache admits them at low priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy

from memories.errors import ConfigError, ModelError
from memories.optimization.predictive.budget import RateBudget
from memories.optimization.predictive.features import validate_features
from memories.optimization.predictive.inference import OnnxSequenceModel
from memories.optimization.predictive.lstm_numpy import LSTMConfig, TrainingHistory
from memories.optimization.predictive.lstm_predictor import LstmPredictor
from memories.optimization.predictive.markov import MarkovPredictor, blend_scores
from memories.optimization.predictive.model_file import Predictor, load_predictor, save_lstm, save_markov
from memories.optimization.predictive.onnx_export import export_network
from memories.optimization.predictive.records import AccessColumns, normalize_records
from memories.optimization.predictive.trainer import TrainedLstm, train_lstm
from memories.units import Duration, Size, parse_duration, parse_size

logger = logging.getLogger(__name__)

MODELS = ("lstm", "markov", "none")
#: Prefetched keys remembered for precision; older ones count as evicted unused.
OUTSTANDING_LIMIT = 10_000
KNOWN_SIZES_LIMIT = 100_000


class PrefetchTarget(Protocol):
    """What PredictiveCache needs from a cache (CacheManager satisfies it)."""

    async def prefetch(self, key: str, value: object = None, ttl: Duration | None = None) -> bool: ...

    def stats(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """Result of :meth:`PredictiveCache.train`: records used, seconds taken, target, epochs."""

    model: str
    records: int
    seconds: float
    target: str | None = None
    history: TrainingHistory | None = None


@dataclass(frozen=True, slots=True)
class PredictorStats:
    """Live prefetch figures: ``precision`` = used / prefetched, ``coverage`` = used / accesses
    (share of accesses served by a prefetch), latencies of one prediction step in milliseconds."""

    model: str
    accesses: int
    prefetch_requests: int
    prefetched: int
    prefetch_used: int
    skipped_by_budget: int
    precision: float
    coverage: float
    cache_hit_rate: float | None
    inference_p50_ms: float | None
    inference_p99_ms: float | None


class PredictiveCache:
    """Learned prefetcher. ``model``: "lstm", "markov" (most frequent successor) or "none".

    ``features``: any of "time", "location", "type". ``cache_size`` (bytes or "50GB") caps the
    bytes of prefetched values not yet used. ``prefetch_rate`` caps keys per second and
    ``prefetch_bandwidth`` bytes per second (None = no cap). ``top_k`` keys are considered per
    prefetch round, those with probability below ``min_probability`` are skipped. With
    ``online_markov`` an "lstm" model is blended with a Markov model that keeps learning from
    :meth:`record_access` (it covers keys first seen after training). ``model_path``
    loads a saved model (raises ModelError when missing or malformed). Raises ConfigError for
    invalid settings.
    """

    def __init__(
        self,
        model: str = "lstm",
        features: Sequence[str] = ("time", "location", "type"),
        cache_size: Size = "50GB",
        *,
        cache: PrefetchTarget | None = None,
        model_path: str | Path | None = None,
        top_k: int = 4,
        min_probability: float = 0.05,
        prefetch_rate: float | None = 200.0,
        prefetch_bandwidth: Size | None = None,
        interval: Duration = "1s",
        vocabulary_size: int = 8192,
        target: str = "auto",
        lstm_config: LSTMConfig | None = None,
        progress: bool = True,
        online_markov: bool = True,
    ) -> None:
        if model not in MODELS:
            raise ConfigError(f"model: expected one of {MODELS}, got {model!r}")
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        if prefetch_rate is not None and prefetch_rate <= 0:
            raise ConfigError(f"prefetch_rate must be > 0 keys/s or None, got {prefetch_rate}")
        self.model = model
        self.features = validate_features(features)
        self.cache_size = parse_size(cache_size, field="cache_size", allow_zero=False)
        self.top_k = top_k
        self.min_probability = min_probability
        self.interval = parse_duration(interval, field="interval", allow_zero=False)
        bandwidth = None if prefetch_bandwidth is None else parse_size(prefetch_bandwidth, field="prefetch_bandwidth")
        self._key_budget = RateBudget(prefetch_rate)
        self._byte_budget = RateBudget(None if bandwidth is None else float(bandwidth))
        self.vocabulary_size = vocabulary_size
        self.target = target
        self.lstm_config = lstm_config or LSTMConfig()
        self.progress = progress
        self._cache = cache
        self._predictor: Predictor | None = MarkovPredictor() if model == "markov" else None
        self._trained: TrainedLstm | None = None
        self._online = MarkovPredictor() if model == "lstm" and online_markov else None
        self._outstanding: OrderedDict[str, int] = OrderedDict()
        self._known_sizes: OrderedDict[str, int] = OrderedDict()
        self._counters = {"accesses": 0, "requests": 0, "prefetched": 0, "used": 0, "skipped": 0}
        self._task: asyncio.Task[None] | None = None
        self._last_round_accesses = -1
        if model_path is not None:
            self.load_model(model_path)

    @property
    def cache(self) -> PrefetchTarget:
        """The cache that receives prefetches (created with L1 = ``cache_size`` if none was given)."""
        if self._cache is None:
            from memories.optimization.cache import CacheManager

            self._cache = CacheManager(l1_size=self.cache_size)
        return self._cache

    def load_model(self, path: str | Path) -> None:
        """Load a saved model; raises ModelError (path and reason) and leaves the current model as is."""
        predictor = load_predictor(path)
        if self.model != "none" and predictor.kind != self.model:
            raise ModelError(f"model file {path}: holds a {predictor.kind} model, but model={self.model!r}")
        self._predictor = predictor

    def save(self, path: str | Path) -> None:
        """Save the trained model (ONNX for "lstm", JSON for "markov"); ModelError when none is trained."""
        if isinstance(self._predictor, MarkovPredictor):
            save_markov(path, self._predictor)
        elif self._trained is not None:
            save_lstm(path, self._trained.network, self._trained.encoder)
        else:
            raise ModelError("no trained model to save (call train() first)")

    async def train(self, access_patterns: Iterable[object], epochs: int = 10) -> TrainingReport:
        """Learn from a log of past accesses (dicts, rows, keys or records; see ``records``).

        The numpy work runs in a worker thread. Raises ConfigError for malformed records, too
        few records (< 16 for "lstm") or bad settings.
        """
        started = time.perf_counter()
        columns = await asyncio.to_thread(AccessColumns.from_records, access_patterns)
        if self.model == "none":
            return TrainingReport(self.model, len(columns), time.perf_counter() - started)
        if self.model == "markov":
            predictor = MarkovPredictor()
            predictor.train(columns.keys)
            self._predictor = predictor
            return TrainingReport(self.model, len(columns), time.perf_counter() - started)
        trained = await asyncio.to_thread(
            train_lstm,
            columns,
            features=self.features,
            epochs=epochs,
            target=self.target,
            vocabulary_size=self.vocabulary_size,
            config=self.lstm_config,
            progress=self.progress,
        )
        session = OnnxSequenceModel(export_network(trained.network).SerializeToString())
        if self._online is not None:
            self._online = MarkovPredictor()
            self._online.train(columns.keys)
        self._trained = trained
        self._predictor = LstmPredictor(trained.encoder, session)
        return TrainingReport(
            self.model, len(columns), time.perf_counter() - started, trained.encoder.target, trained.history
        )

    def record_access(
        self,
        key: str,
        *,
        time: float | None = None,
        location: str | None = None,
        type: str | None = None,
        size: int | None = None,
    ) -> None:
        """Feed one access (``time`` epoch seconds, default now; ``size`` bytes) to the history."""
        record = next(
            normalize_records(
                [
                    {
                        "key": key,
                        "time": _now() if time is None else time,
                        "location": location,
                        "type": type,
                        "size": size,
                    }
                ]
            )
        )
        self._counters["accesses"] += 1
        if self._outstanding.pop(record.key, None) is not None:
            self._counters["used"] += 1
        if record.size is not None:
            self._known_sizes[record.key] = record.size
            self._known_sizes.move_to_end(record.key)
            if len(self._known_sizes) > KNOWN_SIZES_LIMIT:
                self._known_sizes.popitem(last=False)
        if self._predictor is not None and self.model != "none":
            self._predictor.observe(record)
        if self._online is not None:
            self._online.observe(record)

    def predict(self, history: Iterable[object] | None = None, k: int | None = None) -> list[str]:
        """Return up to ``k`` (default ``top_k``) keys most likely to be accessed next.

        ``history`` (records, dicts or keys, oldest first) replaces the recorded history for this
        call only; without it the accesses given to :meth:`record_access` are used. Empty when
        no model is trained or loaded.
        """
        k = self.top_k if k is None else k
        predictor = self._predictor
        if predictor is None or self.model == "none":
            return []
        if history is not None:
            records = list(normalize_records(history))
            if isinstance(predictor, LstmPredictor):
                predictor = LstmPredictor(predictor.encoder, predictor.model)
                for record in records:
                    predictor.observe(record)
            else:
                # a view on the same table that predicts after the history's last key without learning it
                view = MarkovPredictor()
                view.successors = predictor.successors
                view.last_key = records[-1].key if records else None
                predictor = view
        return [key for key, _ in predictor.predict(k)]

    def _likely_keys(self, k: int) -> list[tuple[str, float]]:
        if self._predictor is None:
            return []
        predictions = self._predictor.predict(k)
        if self._online is not None:
            predictions = blend_scores(predictions, self._online.predict(k), k)
        return predictions

    @staticmethod
    def _fresh_copy(predictor: Predictor) -> Predictor:
        if isinstance(predictor, LstmPredictor):
            return LstmPredictor(predictor.encoder, predictor.model)
        copy = MarkovPredictor()
        copy.successors = predictor.successors  # shared read-only: observe() below only adds transitions
        return copy

    def _estimated_size(self, key: str) -> int:
        known = self._known_sizes.get(key)
        if known is not None:
            return known
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            l1 = self.cache.stats().tiers["l1"]
            return int(l1.bytes_used // max(l1.entries, 1))
        return 0

    async def prefetch_likely_data(self, k: int | None = None) -> int:
        """Prefetch the likely next keys into the cache; return how many were admitted.

        Keys below ``min_probability`` are skipped; the key and byte rate budgets and the
        ``cache_size`` cap on unused prefetched bytes are respected (excess keys are skipped).
        """
        if self.model == "none":
            return 0
        admitted = 0
        for key, probability in self._likely_keys(self.top_k if k is None else k):
            if probability < self.min_probability or key in self._outstanding:
                continue
            size = self._estimated_size(key)
            outstanding_bytes = sum(self._outstanding.values())
            if (
                not self._key_budget.allows(1)
                or not self._byte_budget.allows(size)
                or outstanding_bytes + size > self.cache_size
            ):
                self._counters["skipped"] += 1
                continue
            self._counters["requests"] += 1
            self._key_budget.spend(1)
            self._byte_budget.spend(size)
            if await self.cache.prefetch(key):
                admitted += 1
                self._counters["prefetched"] += 1
                self._outstanding[key] = size
                if len(self._outstanding) > OUTSTANDING_LIMIT:
                    self._outstanding.popitem(last=False)
        return admitted

    def start(self) -> None:
        """Prefetch continuously (every ``interval`` seconds after new accesses) in a background task.

        Needs a running event loop (RuntimeError otherwise); idempotent.
        """
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="memories-predictive-prefetch")

    async def stop(self) -> None:
        """Stop the background task started by :meth:`start` (waits for it to end)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            if self._counters["accesses"] != self._last_round_accesses:
                self._last_round_accesses = self._counters["accesses"]
                try:
                    await self.prefetch_likely_data()
                except Exception:  # a failing loader or tier must not end background prefetching
                    logger.exception("prefetch round failed")
            await asyncio.sleep(self.interval)

    def stats(self) -> PredictorStats:
        """Counters since creation; see :class:`PredictorStats`."""
        counters = self._counters
        latencies = self._predictor.latencies if isinstance(self._predictor, LstmPredictor) else []
        hit_rate = None
        if self._cache is not None:
            with contextlib.suppress(AttributeError, TypeError):
                hit_rate = float(self._cache.stats().hit_rate)
        return PredictorStats(
            model=self.model,
            accesses=counters["accesses"],
            prefetch_requests=counters["requests"],
            prefetched=counters["prefetched"],
            prefetch_used=counters["used"],
            skipped_by_budget=counters["skipped"],
            precision=counters["used"] / counters["prefetched"] if counters["prefetched"] else 0.0,
            coverage=counters["used"] / counters["accesses"] if counters["accesses"] else 0.0,
            cache_hit_rate=hit_rate,
            inference_p50_ms=float(numpy.percentile(latencies, 50) * 1e3) if latencies else None,
            inference_p99_ms=float(numpy.percentile(latencies, 99) * 1e3) if latencies else None,
        )


def _now() -> float:
    return time.time()
