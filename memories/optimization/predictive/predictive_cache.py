"""PredictiveCache: the seed's entry point, composing the parts that learn, predict and prefetch.

Training (:mod:`.training`, loaded only when :meth:`PredictiveCache.train` or
:meth:`PredictiveCache.save` is called), the running prediction (:class:`.serving.live_predictor.LivePredictor`)
and the prefetching into a cache (:class:`.serving.prefetcher.Prefetcher`) each live in their own module;
this class holds one of each and the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memories.errors import ConfigError, ModelError
from memories.optimization.predictive.features import validate_features
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessRecord, normalize_records
from memories.optimization.predictive.reports import TrainingReport
from memories.optimization.predictive.serving.live_predictor import LivePredictor
from memories.optimization.predictive.serving.model_file import load_predictor
from memories.optimization.predictive.serving.prefetcher import PredictorStats, Prefetcher, PrefetchTarget
from memories.units import Duration, Size, parse_duration, parse_size

if TYPE_CHECKING:
    from memories.optimization.predictive.training.network import LSTMConfig

MODELS = ("lstm", "markov", "none")


class PredictiveCache:
    """Learned prefetcher. ``model``: "lstm", "markov" (most frequent successor) or "none".

    ``features``: any of "time", "location", "type". ``cache_size`` (bytes or "50GB") caps the
    bytes of prefetched values not yet used. ``prefetch_rate`` caps keys per second and
    ``prefetch_bandwidth`` bytes per second (None = no cap). ``top_k`` keys are considered per
    prefetch round, those with probability below ``min_probability`` are skipped. With
    ``online_markov`` an "lstm" model is blended with a Markov model that keeps learning from
    :meth:`record_access` (it covers keys first seen after training). ``model_path``
    loads a saved model (raises ModelError when missing or malformed). Raises ConfigError for
    invalid settings. Without ``cache``, a CacheManager with an L1 of ``cache_size`` is created on
    first use.
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
        self.vocabulary_size = vocabulary_size
        self.target = target
        self.lstm_config = lstm_config
        self.progress = progress
        self.online_markov = online_markov
        self._cache = cache
        self._live: LivePredictor | None = LivePredictor(MarkovPredictor()) if model == "markov" else None
        self._trained: Any = None  # the training package's TrainedLstm, kept for save()
        self._prefetcher = Prefetcher(
            lambda: self.cache,
            unused_bytes_limit=self.cache_size,
            key_rate=prefetch_rate,
            byte_rate=None if bandwidth is None else float(bandwidth),
            min_probability=min_probability,
        )
        if model_path is not None:
            self.load_model(model_path)

    @property
    def cache(self) -> PrefetchTarget:
        """The cache that receives prefetches (created with L1 = ``cache_size`` if none was given)."""
        if self._cache is None:
            from memories.optimization.cache import CacheManager

            self._cache = CacheManager(l1_size=self.cache_size)
        return self._cache

    def _online(self) -> MarkovPredictor | None:
        return MarkovPredictor() if self.model == "lstm" and self.online_markov else None

    def load_model(self, path: str | Path) -> None:
        """Load a saved model; raises ModelError (path and reason) and leaves the current model as is."""
        predictor = load_predictor(path)
        if self.model != "none" and predictor.kind != self.model:
            raise ModelError(f"model file {path}: holds a {predictor.kind} model, but model={self.model!r}")
        self._live = LivePredictor(predictor, self._online() if predictor.kind == "lstm" else None)

    def save(self, path: str | Path) -> None:
        """Save the trained model (ONNX for "lstm", JSON for "markov"); ModelError when none is trained."""
        from memories.optimization.predictive.training.export import save_lstm, save_markov

        if self._live is not None and isinstance(self._live.model, MarkovPredictor):
            save_markov(path, self._live.model)
        elif self._trained is not None:
            save_lstm(path, self._trained.network, self._trained.encoder)
        else:
            raise ModelError("no trained model to save (call train() first)")

    async def train(self, access_patterns: Iterable[object], epochs: int = 10) -> TrainingReport:
        """Learn from a log of past accesses (dicts, rows, keys or records; see ``records``).

        The numpy work runs in a worker thread. Raises ConfigError for malformed records, too
        few records (< 16 for "lstm") or bad settings.
        """
        from memories.optimization.predictive.training.fit import train_predictor

        started = time.perf_counter()
        trained = await asyncio.to_thread(
            train_predictor,
            self.model,
            access_patterns,
            features=self.features,
            epochs=epochs,
            target=self.target,
            vocabulary_size=self.vocabulary_size,
            config=self.lstm_config,
            progress=self.progress,
            online_markov=self.online_markov,
        )
        if trained.live is not None:
            self._live = trained.live
        self._trained = trained.lstm
        history = trained.lstm.history if trained.lstm is not None else None
        target = trained.lstm.encoder.target if trained.lstm is not None else None
        return TrainingReport(self.model, trained.records, time.perf_counter() - started, target, history)

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
        fields = {"key": key, "time": _now() if time is None else time, "location": location, "type": type}
        record = next(normalize_records([{**fields, "size": size}]))
        self._prefetcher.note_access(record.key, record.size)
        if self._live is not None and self.model != "none":
            self._live.observe(record)

    def predict(self, history: Iterable[object] | None = None, k: int | None = None) -> list[str]:
        """Return up to ``k`` (default ``top_k``) keys most likely to be accessed next.

        ``history`` (records, dicts or keys, oldest first) replaces the recorded history for this
        call only; without it the accesses given to :meth:`record_access` are used. Empty when
        no model is trained or loaded.
        """
        k = self.top_k if k is None else k
        if self._live is None or self.model == "none":
            return []
        model = self._live.model
        if history is not None:
            records: list[AccessRecord] = list(normalize_records(history))
            model = self._live.model_after(records)
        return [key for key, _ in model.predict(k)]

    async def prefetch_likely_data(self, k: int | None = None) -> int:
        """Prefetch the likely next keys into the cache; return how many were admitted.

        Keys below ``min_probability`` are skipped; the key and byte rate budgets and the
        ``cache_size`` cap on unused prefetched bytes are respected (excess keys are skipped).
        """
        if self._live is None or self.model == "none":
            return 0
        return await self._prefetcher.prefetch(self._live.likely_keys(self.top_k if k is None else k))

    def start(self) -> None:
        """Prefetch continuously (every ``interval`` seconds after new accesses) in a background task.

        Needs a running event loop (RuntimeError otherwise); idempotent.
        """
        self._prefetcher.start(self.prefetch_likely_data, self.interval)

    async def stop(self) -> None:
        """Stop the background task started by :meth:`start` (waits for it to end)."""
        await self._prefetcher.stop()

    def stats(self) -> PredictorStats:
        """Counters since creation; see :class:`PredictorStats`."""
        latencies = self._live.latencies if self._live is not None else []
        hit_rate = None
        if self._cache is not None:  # never create a cache just to report on it
            with contextlib.suppress(AttributeError, TypeError):
                hit_rate = float(self._cache.stats().hit_rate)
        return self._prefetcher.stats(self.model, latencies, hit_rate)


def _now() -> float:
    return time.time()
