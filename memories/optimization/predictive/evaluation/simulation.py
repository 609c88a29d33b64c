"""Offline evaluation: replay a log through a count-based LRU cache with and without prefetching.

After each request the predictor's top-k keys are prefetched. Admission ``"mru"``: a key not
in the cache is inserted at the most-recently-used end, displacing the least-recently-used
entry (the coldest one). Admission ``"cold"`` mirrors ``CacheManager.prefetch``: the key goes
in at the LRU end and may only displace an entry not read since it entered the cache (else the
prefetch is dropped). A prefetch is *used* when its key is requested before it is evicted;
precision = used / prefetched. Top-1 accuracy = share of requests whose first predicted
key is exactly the next request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from memories.errors import ConfigError
from memories.optimization.predictive.markov import MarkovPredictor, blend_scores
from memories.optimization.predictive.records import AccessColumns


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Counts of one replay; ratios are 0..1."""

    name: str
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
    def precision(self) -> float:
        """Prefetched keys requested before eviction / prefetched keys."""
        return self.prefetch_used / self.prefetched if self.prefetched else 0.0

    @property
    def top1_accuracy(self) -> float:
        """Share of requests whose first prediction was the next request."""
        return self.top1_correct / max(self.requests - 1, 1)


def simulate_lru(
    name: str,
    keys: Sequence[str],
    capacity: int,
    predictions: Iterable[Sequence[str]] | None = None,
    *,
    admission: str = "mru",
) -> SimulationResult:
    """Replay ``keys`` through an LRU cache of ``capacity`` entries; ``predictions[i]`` are the keys
    prefetched after request ``i`` (None: no prefetching); ``admission`` is "mru" or "cold" (see
    the module docstring). Raises ConfigError for capacity < 1 or an unknown admission."""
    if capacity < 1:
        raise ConfigError(f"capacity must be >= 1 entries, got {capacity}")
    if admission not in ("mru", "cold"):
        raise ConfigError(f"admission: expected 'mru' or 'cold', got {admission!r}")
    cache: OrderedDict[str, None] = OrderedDict()
    unused: set[str] = set()
    read: set[str] = set()
    hits = prefetched = used = correct = 0
    guesses = iter(predictions) if predictions is not None else None
    previous_guess: str | None = None

    def insert(key: str) -> None:
        cache[key] = None
        if len(cache) > capacity:
            evicted, _ = cache.popitem(last=False)
            unused.discard(evicted)
            read.discard(evicted)

    def admit_cold(key: str) -> bool:
        if len(cache) >= capacity:
            victim = next(iter(cache))
            if victim in read:
                return False
            del cache[victim]
            unused.discard(victim)
        cache[key] = None
        cache.move_to_end(key, last=False)
        return True

    for key in keys:
        correct += previous_guess == key
        if key in cache:
            hits += 1
            read.add(key)
            cache.move_to_end(key)
            if key in unused:
                used += 1
                unused.discard(key)
        else:
            insert(key)
        if guesses is None:
            continue
        guess = next(guesses, ())
        previous_guess = guess[0] if guess else None
        for predicted in guess:
            if predicted in cache:
                continue
            if admission == "mru":
                insert(predicted)
            elif not admit_cold(predicted):
                continue
            unused.add(predicted)
            prefetched += 1
    return SimulationResult(name, capacity, len(keys), hits, prefetched, used, correct)


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
    """Cache entries for ``share`` (0..1) of ``distinct_keys`` (at least 1)."""
    return max(1, round(share * distinct_keys))


def format_table(results: Sequence[SimulationResult]) -> str:
    """A plain-text comparison table of ``results``."""
    lines = [f"{'predictor':<16} {'capacity':>9} {'hit ratio':>10} {'precision':>10} {'prefetched':>11} {'top-1':>7}"]
    for result in results:
        lines.append(
            f"{result.name:<16} {result.capacity:>9} {result.hit_ratio:>10.4f} {result.precision:>10.4f} "
            f"{result.prefetched:>11} {result.top1_accuracy:>7.3f}"
        )
    return "\n".join(lines)
