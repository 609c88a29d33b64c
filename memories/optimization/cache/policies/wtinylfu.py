"""W-TinyLFU: an LRU window, a TinyLFU admission filter and a segmented-LRU main region
(Einziger, Friedman & Manes, 2017), with the window size adapted from ghost hits (as ARC adapts its split).

Why not Caffeine's or BitFaster's hill climber: climbing on the hit rate of sample periods of
``10 × capacity`` requests is noisy, and a cache of 5,000 entries sees only two samples in the whole
cloudPhysicsIO trace. Adapting on every re-request of a recently evicted key follows the workload at
once; ``docs/benchmarks/cache.md`` has the measurements against both peers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import ClassVar

from memories.optimization.cache.policies.base import ReplaceByReinsert
from memories.optimization.cache.policies.frequency_sketch import FrequencySketch

PROTECTED_SHARE = 0.80
"""Share of the main region's bytes kept for keys read at least twice."""
INITIAL_WINDOW_SHARE = 0.01
MINIMUM_WINDOW_SHARE, MAXIMUM_WINDOW_SHARE = 0.001, 0.80
ADAPTATION_GAIN = 0.25
"""A ghost hit moves the window share by this many times the key's share of the resident bytes
(scaled, as in ARC, by how much rarer hits on that side's ghosts are)."""

_WINDOW, _PROBATION, _PROTECTED = 0, 1, 2


class WindowSizer:
    """Remembers the hashes of recently evicted keys and which region lost them; a key requested again
    soon after says that region was too small, and the window share moves towards it.

    At most as many hashes as there are resident keys are kept (oldest forgotten first).
    """

    def __init__(self) -> None:
        self.window_share = INITIAL_WINDOW_SHARE
        self._ghosts: OrderedDict[int, int] = OrderedDict()  # hash -> region that lost the key
        self._counts = [0, 0]  # ghosts lost by the window, by main

    def evicted(self, key: Hashable, from_window: bool, resident_keys: int) -> None:
        """Remember that ``key`` was evicted (``from_window``: it lost as a window key or candidate)."""
        side = 0 if from_window else 1
        code = hash(key)
        previous = self._ghosts.pop(code, None)
        if previous is not None:
            self._counts[previous] -= 1
        self._ghosts[code] = side
        self._counts[side] += 1
        while len(self._ghosts) > max(resident_keys, 1):
            _, forgotten = self._ghosts.popitem(last=False)
            self._counts[forgotten] -= 1

    def inserted(self, key: Hashable, share_of_bytes: float) -> None:
        """A key came back; if a ghost remembers it, move the window share (``share_of_bytes``: its size / resident bytes)."""
        side = self._ghosts.pop(hash(key), None)
        if side is None:
            return
        self._counts[side] -= 1
        ratio = max(1.0, self._counts[1 - side] / max(self._counts[side], 1))
        step = ADAPTATION_GAIN * ratio * share_of_bytes
        share = self.window_share + step if side == 0 else self.window_share - step
        self.window_share = min(MAXIMUM_WINDOW_SHARE, max(MINIMUM_WINDOW_SHARE, share))


class WTinyLfuPolicy(ReplaceByReinsert):
    """New keys enter the window (LRU). Keys pushed out of the window's share of the resident bytes move to
    the probation segment as *candidates*: the next eviction weighs the oldest candidate against the
    probation victim (its oldest key) and evicts the one with the lower estimated frequency (count-min
    sketch + doorkeeper), the candidate on a tie. A read in probation promotes to the protected segment.

    Low-priority (prefetched) keys enter the probation segment at its cold end (the next main victim) and
    are not counted in the sketch.
    """

    name: ClassVar[str] = "wtinylfu"
    summary: ClassVar[str] = (
        "admits a new key over a resident one only when it is read more often; best on skewed traffic"
    )
    entry_overhead_bytes: ClassVar[int] = 400

    def __init__(self) -> None:
        self._regions: tuple[OrderedDict[Hashable, int], ...] = (OrderedDict(), OrderedDict(), OrderedDict())
        self._bytes = [0, 0, 0]  # window, probation, protected
        self._region_of: dict[Hashable, int] = {}
        self._sketch = FrequencySketch()
        self._sizer = WindowSizer()
        #: Keys the last insertion moved from the window to probation, not yet judged by the admission duel.
        self._candidates: list[Hashable] = []
        self._winner: Hashable | None = None

    @property
    def window_share(self) -> float:
        """The window's current share of the resident bytes (0..1)."""
        return self._sizer.window_share

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        self.remove(key)
        if low_priority:
            self._place(key, _PROBATION, size)
            self._regions[_PROBATION].move_to_end(key, last=False)
            return
        self._sketch.increment(key)
        self._sizer.inserted(key, size / max(sum(self._bytes) + size, 1))
        self._place(key, _WINDOW, size)
        self._sketch.ensure_width(len(self._region_of))
        self._shrink_window()

    def _shrink_window(self) -> None:
        """Move the window's oldest keys to probation while it is over its share; they are the candidates
        the next :meth:`choose_victim` weighs against the probation victim (as Caffeine's evictFromWindow)."""
        window = self._regions[_WINDOW]
        self._candidates = []
        while self._bytes[_WINDOW] > self.window_share * sum(self._bytes) and len(window) > 1:
            oldest = next(iter(window))
            self._place(oldest, _PROBATION, self._unplace(oldest))
            self._candidates.append(oldest)

    def record_access(self, key: Hashable) -> None:
        self._sketch.increment(key)
        region = self._region_of[key]
        if region == _PROBATION:
            size = self._unplace(key)
            self._place(key, _PROTECTED, size)
            self._rebalance_protected()
        else:
            self._regions[region].move_to_end(key)

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        region = self._region_of.get(key)
        if region is None:
            return
        if evicted:
            lost_as_candidate = bool(self._candidates) and self._candidates[0] == key
            self._sizer.evicted(key, region == _WINDOW or lost_as_candidate, len(self._region_of))
            if self._winner is not None and self._candidates and self._candidates[0] == self._winner:
                del self._candidates[0]  # it won its duel: an ordinary probation key from now on
        self._winner = None
        self._unplace(key)

    def choose_victim(self) -> Hashable | None:
        """The TinyLFU duel: a candidate that just left the window (else the window's oldest key) against
        the probation victim (its oldest key, else protected's); the one with the lower estimated frequency
        is the victim, the candidate on a tie."""
        victim = self._oldest_main()
        candidate = self._next_candidate()
        if victim is None or candidate is None:
            return victim if victim is not None else candidate
        if candidate == victim or self._sketch.estimate(candidate) <= self._sketch.estimate(victim):
            return candidate
        self._winner = candidate  # stays once the victim is evicted
        return victim

    def _next_candidate(self) -> Hashable | None:
        while self._candidates:
            candidate = self._candidates[0]
            if self._region_of.get(candidate) == _PROBATION:
                return candidate
            del self._candidates[0]  # read since (now protected) or gone
        return next(iter(self._regions[_WINDOW]), None)

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
