"""W-TinyLFU: an LRU window, a TinyLFU admission filter and a segmented-LRU main region
(Einziger, Friedman & Manes, 2017), with the window size adapted by hill climbing (as Caffeine)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import ClassVar

from memories.optimization.cache.policies.base import ReplaceByReinsert
from memories.optimization.cache.policies.frequency_sketch import FrequencySketch

PROTECTED_SHARE = 0.80
"""Share of the main region's bytes kept for keys read at least twice."""
INITIAL_WINDOW_SHARE = 0.01
WINDOW_STEP = 0.0625
"""How much of the resident bytes one hill-climbing step moves between window and main."""
MINIMUM_WINDOW_SHARE, MAXIMUM_WINDOW_SHARE = 0.01, 0.80


class WTinyLfuPolicy(ReplaceByReinsert):
    """New keys enter the window (LRU). When the window is over its share of the resident bytes,
    its oldest key competes with the main region's probation victim: the one with the higher
    estimated frequency (count-min sketch + doorkeeper) stays. The window share climbs in the
    direction that improved the hit rate over the last sample period.

    Low-priority (prefetched) keys enter the probation segment at its cold end (the next main
    victim) and are not counted in the sketch; a read promotes them to the protected segment.
    """

    name: ClassVar[str] = "wtinylfu"
    summary: ClassVar[str] = (
        "admits a new key over a resident one only when it is read more often; best on skewed traffic"
    )
    entry_overhead_bytes: ClassVar[int] = 260

    def __init__(self) -> None:
        self._regions: tuple[OrderedDict[Hashable, int], ...] = (OrderedDict(), OrderedDict(), OrderedDict())
        self._bytes = [0, 0, 0]  # window, probation, protected
        self._region_of: dict[Hashable, int] = {}
        self._sketch = FrequencySketch()
        self.window_share = INITIAL_WINDOW_SHARE
        self._hits = self._lookups = 0
        self._previous_hit_rate = 0.0
        self._step = WINDOW_STEP

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        self.remove(key)
        if low_priority:
            self._place(key, _PROBATION, size)
            self._regions[_PROBATION].move_to_end(key, last=False)
            return
        self._sketch.increment(key)
        self._lookups += 1
        self._place(key, _WINDOW, size)
        self._sketch.ensure_width(len(self._region_of))
        self._shrink_window()
        self._climb_if_due()

    def _shrink_window(self) -> None:
        """Move the window's oldest keys to probation while it is over its share (no eviction)."""
        window = self._regions[_WINDOW]
        while self._bytes[_WINDOW] > self.window_share * sum(self._bytes) and len(window) > 1:
            oldest = next(iter(window))
            self._place(oldest, _PROBATION, self._unplace(oldest))

    def record_access(self, key: Hashable) -> None:
        self._sketch.increment(key)
        self._hits += 1
        self._lookups += 1
        region = self._region_of[key]
        if region == _PROBATION:
            size = self._unplace(key)
            self._place(key, _PROTECTED, size)
            self._rebalance_protected()
        else:
            self._regions[region].move_to_end(key)
        self._climb_if_due()

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        if key in self._region_of:
            self._unplace(key)

    def choose_victim(self) -> Hashable | None:
        """When the window is at its share, its oldest key duels the main victim: the one with the
        lower estimated frequency is the victim (the window's key on a tie); a winning window
        key moves to probation. Otherwise the main region's oldest probation key is the victim."""
        window = self._regions[_WINDOW]
        victim = self._oldest_main()
        if window and self._bytes[_WINDOW] >= self.window_share * sum(self._bytes):
            candidate = next(iter(window))
            if victim is None or self._sketch.estimate(candidate) <= self._sketch.estimate(victim):
                return candidate
            self._place(candidate, _PROBATION, self._unplace(candidate))
            return victim
        return victim if victim is not None else next(iter(window), None)

    def _oldest_main(self) -> Hashable | None:
        for region in (_PROBATION, _PROTECTED):
            if self._regions[region]:
                return next(iter(self._regions[region]))
        return None

    def _rebalance_protected(self) -> None:
        main = self._bytes[_PROBATION] + self._bytes[_PROTECTED]
        while self._bytes[_PROTECTED] > PROTECTED_SHARE * main and len(self._regions[_PROTECTED]) > 1:
            oldest = next(iter(self._regions[_PROTECTED]))
            self._place(oldest, _PROBATION, self._unplace(oldest))

    def _climb_if_due(self) -> None:
        """Every sample period, move the window share one step towards a better hit rate."""
        if self._lookups < max(1000, 10 * len(self._region_of)):
            return
        hit_rate = self._hits / self._lookups
        if hit_rate < self._previous_hit_rate:
            self._step = -self._step
        self.window_share = min(MAXIMUM_WINDOW_SHARE, max(MINIMUM_WINDOW_SHARE, self.window_share + self._step))
        self._previous_hit_rate = hit_rate
        self._hits = self._lookups = 0

    def _place(self, key: Hashable, region: int, size: int) -> None:
        self._regions[region][key] = size
        self._region_of[key] = region
        self._bytes[region] += size

    def _unplace(self, key: Hashable) -> int:
        region = self._region_of.pop(key)
        size = self._regions[region].pop(key)
        self._bytes[region] -= size
        return size

    def __len__(self) -> int:
        return len(self._region_of)

    def __contains__(self, key: object) -> bool:
        return key in self._region_of


_WINDOW, _PROBATION, _PROTECTED = 0, 1, 2
