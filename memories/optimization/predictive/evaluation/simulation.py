"""Offline evaluation: replay a log through a count-based cache with and without prefetching.

The cache is the agent's own: one of its eviction policies (:mod:`memories.optimization.cache.policies`,
by name) over entries of size 1, and the admission rule of ``CacheManager.prefetch`` / ``MemoryTier.put``:

- a request that misses inserts its key at normal priority, evicting the policy's victims;
- admission ``"cold"`` (the agent's rule, the default): a prefetched key enters at low priority
  (the policy puts it at its cold end) and may only displace a victim not read since it entered the
  cache, else the prefetch is dropped;
- admission ``"mru"``: a prefetched key is inserted like a requested one, displacing the victim
  whatever it is (what an unguarded prefetcher does; reported for comparison).

``tests/unit/optimization/predictive/evaluation/test_simulation.py`` replays random operations
through :class:`ReplayCache` and the agent's ``MemoryTier`` side by side and checks they agree.

After each request, the predictions for that position are prefetched in order (keys already in the
cache are passed over), at most ``per_step`` of them. A prefetch is *used* when its key is requested
before it is evicted; precision = used / prefetched. Top-1 accuracy = share of requests whose first
predicted key is exactly the next request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from memories.errors import ConfigError
from memories.optimization.cache.policies import create_policy
from memories.optimization.predictive.markov import MarkovPredictor, blend_scores
from memories.optimization.predictive.records import AccessColumns

ADMISSIONS = ("cold", "mru")
#: Label of each admission rule in tables and plots.
ADMISSION_LABELS = {"cold": "agent's rule: cold end, never over a read entry", "mru": "MRU end, displaces anything"}


class ReplayCache:
    """A cache of ``capacity`` entries (size 1 each) ordered by the policy called ``policy``."""

    def __init__(self, capacity: int, policy: str = "lru") -> None:
        if capacity < 1:
            raise ConfigError(f"capacity must be >= 1 entries, got {capacity}")
        self.capacity = capacity
        self._policy = create_policy(policy)
        self._reads: dict[str, int] = {}  # resident key -> reads since it entered
        self.unused: set[str] = set()  # prefetched keys not requested yet

    def __contains__(self, key: object) -> bool:
        return key in self._reads

    def __len__(self) -> int:
        return len(self._reads)

    def request(self, key: str) -> bool:
        """Read ``key``; on a miss insert it at normal priority. Returns whether it was a hit."""
        if key in self._reads:
            self._reads[key] += 1
            self._policy.record_access(key)
            return True
        if len(self._reads) >= self.capacity:
            self._evict(self._victim())
        self._reads[key] = 0
        self._policy.record_insert(key)
        return False

    def prefetch(self, key: str, admission: str = "cold") -> bool:
        """Admit a non-resident ``key`` under ``admission``; returns whether it entered the cache."""
        if key in self._reads:
            return False
        if len(self._reads) >= self.capacity:
            victim = self._victim()
            if admission == "cold" and self._reads[victim]:
                return False
            self._evict(victim)
        self._reads[key] = 0
        self._policy.record_insert(key, low_priority=admission == "cold")
        self.unused.add(key)
        return True

    def _victim(self) -> str:
        victim = self._policy.choose_victim()
        if not isinstance(victim, str):
            raise AssertionError("the eviction policy has no victim although the cache is full")
        return victim

    def _evict(self, key: str) -> None:
        self._policy.remove(key, evicted=True)
        del self._reads[key]
        self.unused.discard(key)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Counts of one replay; ratios are 0..1."""

    name: str
    policy: str
    admission: str
    capacity: int
    requests: int
    hits: int
    prefetched: int
    prefetch_used: int
    top1_correct: int

    @property
    def hit_ratio(self) -> float:
        """hits / requests."""
        return self.hits / self.requests if self.requests else 0.0

    @property
    def miss_ratio(self) -> float:
        """1 - hit ratio."""
        return 1.0 - self.hit_ratio

    @property
    def precision(self) -> float:
        """Prefetched keys requested before eviction / prefetched keys."""
        return self.prefetch_used / self.prefetched if self.prefetched else 0.0

    @property
    def top1_accuracy(self) -> float:
        """Share of requests whose first prediction was the next request."""
        return self.top1_correct / max(self.requests - 1, 1)


def simulate(
    name: str,
    keys: Sequence[str],
    capacity: int,
    predictions: Iterable[Sequence[str]] | None = None,
    *,
    policy: str = "lru",
    admission: str = "cold",
    per_step: int | None = None,
) -> SimulationResult:
    """Replay ``keys`` through a :class:`ReplayCache`; ``predictions[i]`` are the keys to prefetch after
    request ``i`` (None: no prefetching), at most ``per_step`` admitted per request (None: all).

    Raises ConfigError for capacity < 1, an unknown policy or an unknown admission.
    """
    if admission not in ADMISSIONS:
        raise ConfigError(f"admission: expected one of {ADMISSIONS}, got {admission!r}")
    cache = ReplayCache(capacity, policy)
    hits = prefetched = used = correct = 0
    guesses = iter(predictions) if predictions is not None else None
    previous_guess: str | None = None
    limit = per_step if per_step is not None else -1
    for key in keys:
        correct += previous_guess == key
        if cache.request(key):
            hits += 1
            if key in cache.unused:
                used += 1
                cache.unused.discard(key)
        if guesses is None:
            continue
        guess = next(guesses, ())
        previous_guess = guess[0] if guess else None
        admitted = 0
        for predicted in guess:
            if admitted == limit:
                break
            if cache.prefetch(predicted, admission):
                prefetched += 1
                admitted += 1
    rule = admission if predictions is not None else "none"
    return SimulationResult(name, policy, rule, capacity, len(keys), hits, prefetched, used, correct)


def markov_predictions(predictor: MarkovPredictor, columns: AccessColumns, k: int) -> Iterator[list[str]]:
    """Online Markov: after each access of ``columns``, learn it and yield the top-k next keys."""
    for key in columns.keys:
        predictor.observe_key(key)
        yield [predicted for predicted, _ in predictor.predict(k)]


def blended_predictions(
    model_predictions: Iterable[Sequence[tuple[str, float]]],
    markov: MarkovPredictor,
    columns: AccessColumns,
    k: int,
) -> Iterator[list[str]]:
    """Blend a frozen model with an online Markov model: per access, the top-k keys by the higher
    of the model probability and the Markov successor share (the Markov model keeps learning, so
    it covers keys and sequences first seen after training)."""
    for key, scored in zip(columns.keys, model_predictions, strict=True):
        markov.observe_key(key)
        yield [predicted for predicted, _ in blend_scores(scored, markov.predict(k), k)]


def capacity_for(share: float, distinct_keys: int) -> int:
    """Cache entries for ``share`` (0..1) of ``distinct_keys``, truncated as libcachesim does (at least 1)."""
    return max(1, int(share * distinct_keys))


def format_table(results: Sequence[SimulationResult]) -> str:
    """A plain-text comparison table of ``results``."""
    lines = [
        f"{'predictor':<16} {'policy':<9} {'admission':<9} {'capacity':>9} {'hit ratio':>10} {'precision':>10} "
        f"{'prefetched':>11} {'top-1':>7}"
    ]
    for result in results:
        lines.append(
            f"{result.name:<16} {result.policy:<9} {result.admission:<9} {result.capacity:>9} "
            f"{result.hit_ratio:>10.4f} {result.precision:>10.4f} {result.prefetched:>11} {result.top1_accuracy:>7.3f}"
        )
    return "\n".join(lines)
