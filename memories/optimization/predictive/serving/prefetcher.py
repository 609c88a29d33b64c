"""Prefetching predicted keys into a cache under rate, bandwidth and unused-bytes budgets.

The cache is any object with ``async prefetch(key, value=None, ttl=None) -> bool`` and
``stats()`` (:class:`memories.optimization.CacheManager`): prefetching loads values through the
cache's L2/L3 or ``loader`` and the cache admits them at low priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy

from memories.optimization.predictive.serving.budget import RateBudget
from memories.units import Duration

logger = logging.getLogger(__name__)

#: Prefetched keys remembered for precision; older ones count as evicted unused.
OUTSTANDING_LIMIT = 10_000
KNOWN_SIZES_LIMIT = 100_000

#: Scored predictions: (key, probability 0..1), most likely first.
ScoredKeys = Sequence[tuple[str, float]]


class PrefetchTarget(Protocol):
    """What prefetching needs from a cache (CacheManager satisfies it)."""

    async def prefetch(self, key: str, value: object = None, ttl: Duration | None = None) -> bool: ...

    def stats(self) -> Any: ...


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


class Prefetcher:
    """Sends predicted keys to a cache and counts what became of them.

    ``unused_bytes_limit`` caps the bytes of prefetched values not yet used, ``key_rate`` the keys
    per second and ``byte_rate`` the bytes per second (None = no cap). Keys below
    ``min_probability`` are never sent.
    """

    def __init__(
        self,
        target: Callable[[], PrefetchTarget],
        *,
        unused_bytes_limit: int,
        key_rate: float | None,
        byte_rate: float | None,
        min_probability: float,
    ) -> None:
        self._target = target
        self.unused_bytes_limit = unused_bytes_limit
        self.min_probability = min_probability
        self._key_budget = RateBudget(key_rate)
        self._byte_budget = RateBudget(byte_rate)
        self._outstanding: OrderedDict[str, int] = OrderedDict()
        self._known_sizes: OrderedDict[str, int] = OrderedDict()
        self._counters = {"accesses": 0, "requests": 0, "prefetched": 0, "used": 0, "skipped": 0}
        self._task: asyncio.Task[None] | None = None
        self._last_round_accesses = -1

    def note_access(self, key: str, size: int | None) -> None:
        """Count one access of ``key`` (``size`` bytes when known): a prefetch was used if it was outstanding."""
        self._counters["accesses"] += 1
        if self._outstanding.pop(key, None) is not None:
            self._counters["used"] += 1
        if size is not None:
            self._known_sizes[key] = size
            self._known_sizes.move_to_end(key)
            if len(self._known_sizes) > KNOWN_SIZES_LIMIT:
                self._known_sizes.popitem(last=False)

    def _estimated_size(self, key: str) -> int:
        known = self._known_sizes.get(key)
        if known is not None:
            return known
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            l1 = self._target().stats().tiers["l1"]
            return int(l1.bytes_used // max(l1.entries, 1))
        return 0

    async def prefetch(self, candidates: ScoredKeys) -> int:
        """Send ``candidates`` to the cache in order; return how many it admitted.

        Keys below ``min_probability`` or already outstanding are passed over; keys over the key or
        byte rate budget or the unused-bytes cap are skipped (and counted as skipped).
        """
        admitted = 0
        for key, probability in candidates:
            if probability < self.min_probability or key in self._outstanding:
                continue
            size = self._estimated_size(key)
            outstanding_bytes = sum(self._outstanding.values())
            if (
                not self._key_budget.allows(1)
                or not self._byte_budget.allows(size)
                or outstanding_bytes + size > self.unused_bytes_limit
            ):
                self._counters["skipped"] += 1
                continue
            self._counters["requests"] += 1
            self._key_budget.spend(1)
            self._byte_budget.spend(size)
            if await self._target().prefetch(key):
                admitted += 1
                self._counters["prefetched"] += 1
                self._outstanding[key] = size
                if len(self._outstanding) > OUTSTANDING_LIMIT:
                    self._outstanding.popitem(last=False)
        return admitted

    def start(self, round_: Callable[[], Any], interval: float) -> None:
        """Await ``round_()`` every ``interval`` seconds after new accesses, in a background task.

        Needs a running event loop (RuntimeError otherwise); idempotent.
        """
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(round_, interval), name="memories-predictive-prefetch"
            )

    async def stop(self) -> None:
        """Stop the background task started by :meth:`start` (waits for it to end)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, round_: Callable[[], Any], interval: float) -> None:
        while True:
            if self._counters["accesses"] != self._last_round_accesses:
                self._last_round_accesses = self._counters["accesses"]
                try:
                    await round_()
                except Exception:  # a failing loader or tier must not end background prefetching
                    logger.exception("prefetch round failed")
            await asyncio.sleep(interval)

    def stats(self, model: str, latencies: Sequence[float], cache_hit_rate: float | None) -> PredictorStats:
        """Counters since creation, for ``model`` whose prediction steps took ``latencies`` seconds."""
        counters = self._counters
        return PredictorStats(
            model=model,
            accesses=counters["accesses"],
            prefetch_requests=counters["requests"],
            prefetched=counters["prefetched"],
            prefetch_used=counters["used"],
            skipped_by_budget=counters["skipped"],
            precision=counters["used"] / counters["prefetched"] if counters["prefetched"] else 0.0,
            coverage=counters["used"] / counters["accesses"] if counters["accesses"] else 0.0,
            cache_hit_rate=cache_hit_rate,
            inference_p50_ms=float(numpy.percentile(latencies, 50) * 1e3) if len(latencies) else None,
            inference_p99_ms=float(numpy.percentile(latencies, 99) * 1e3) if len(latencies) else None,
        )
