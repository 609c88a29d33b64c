"""PerformanceMonitor: samples memory, cpu and io in a background thread.

``start()``/``stop()`` are synchronous (the seed calls them without ``await``): a daemon thread
takes a sample every ``sampling_interval``; ``get_metrics()`` returns the latest one, taking a
sample on the spot when there is none yet. See :mod:`memories.optimization.monitor.sampler`
for what each figure means and where it comes from.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from memories.errors import ConfigError
from memories.optimization.monitor.cgroup import find_cgroup_directory
from memories.optimization.monitor.sampler import METRIC_GROUPS, PerformanceMetrics, Sampler
from memories.units import Duration, parse_duration

logger = logging.getLogger(__name__)


class _HitRateStats(Protocol):
    @property
    def hit_rate(self) -> float: ...


class CacheWithStats(Protocol):
    """Anything with ``stats().hit_rate`` in 0..1, such as a CacheManager."""

    def stats(self) -> _HitRateStats: ...


class PerformanceMonitor:
    """Periodic sampler of the process's (container's) resource usage.

    Args:
        sampling_interval: seconds between samples, or "1s"; must be > 0.
        metrics: groups to sample, any of "memory", "cpu", "io".
        cache: a CacheManager (or anything with ``stats().hit_rate``) whose hit rate is reported.
        cgroup_directory: the cgroup v2 directory to read; None finds this process's own.

    Raises:
        ConfigError: unknown metric group, or a bad interval.
    """

    def __init__(
        self,
        sampling_interval: Duration = "1s",
        metrics: Iterable[str] = METRIC_GROUPS,
        *,
        cache: CacheWithStats | None = None,
        cgroup_directory: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(metrics, str):
            raise ConfigError(f"metrics: expected a list of groups such as ['memory', 'cpu'], got {metrics!r}")
        groups = list(metrics)
        unknown = sorted(set(groups) - set(METRIC_GROUPS))
        if unknown:
            raise ConfigError(f"metrics: unknown group(s) {unknown}; choose from {list(METRIC_GROUPS)}")
        self._interval = parse_duration(sampling_interval, field="sampling_interval", allow_zero=False)
        self._cache = cache
        directory = find_cgroup_directory() if cgroup_directory is None else Path(cgroup_directory)
        self._sampler = Sampler(groups, directory)
        self._sample_lock = threading.Lock()
        self._latest: PerformanceMetrics | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()

    @property
    def sampling_interval(self) -> float:
        """Seconds between samples."""
        return self._interval

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def attach_cache(self, cache: CacheWithStats | None) -> None:
        """Report this cache's hit rate from now on (None detaches)."""
        self._cache = cache

    def start(self) -> None:
        """Start the sampling thread; does nothing when it already runs."""
        if self.running:
            return
        self._stop_requested = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop_requested,), name="memories-performance-monitor", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the sampling thread and wait for it to exit; harmless when not running."""
        self._stop_requested.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> PerformanceMonitor:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def get_metrics(self) -> PerformanceMetrics:
        """The latest sample; takes one now when the thread has not produced any yet."""
        latest = self._latest
        return latest if latest is not None else self.sample()

    def stats(self) -> PerformanceMetrics:
        """Same as :meth:`get_metrics` (the name every part's Prometheus collector reads)."""
        return self.get_metrics()

    def sample(self) -> PerformanceMetrics:
        """Take a sample now (rates cover the time since the previous one) and keep it as the latest."""
        with self._sample_lock:
            metrics = self._sampler.sample(self._cache_hit_rate_percent())
            self._latest = metrics
        return metrics

    def _cache_hit_rate_percent(self) -> float:
        if self._cache is None:
            return 0.0
        try:
            return float(self._cache.stats().hit_rate) * 100
        except Exception:
            logger.warning("reading the cache hit rate failed", exc_info=True)
            return 0.0

    def _run(self, stop_requested: threading.Event) -> None:
        while not stop_requested.wait(self._interval):
            try:
                self.sample()
            except Exception:
                logger.exception("taking a performance sample failed")
