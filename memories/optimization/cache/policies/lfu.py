"""Least frequently used, in O(1) per operation, with periodic aging."""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from memories.optimization.cache.policies.base import ReplaceByReinsert

AGING_PERIOD_PER_ENTRY = 16
"""Frequencies are halved after this many accesses per resident key (at least 1024 accesses)."""


class LfuPolicy(ReplaceByReinsert):
    """Evicts the key with the fewest reads; ties go to the one that reached that count first.

    Keys live in frequency buckets (insertion-ordered dicts), so every operation is O(1). To let
    once-popular keys fade, all frequencies are halved every ``AGING_PERIOD_PER_ENTRY × len``
    accesses (amortised O(1)). A normal insert starts at frequency 1, a low-priority (prefetched)
    one at 0, so an unread prefetch is evicted before anything that was written or read.
    """

    name: ClassVar[str] = "lfu"
    summary: ClassVar[str] = "least frequently used"
    entry_overhead_bytes: ClassVar[int] = 120

    def __init__(self) -> None:
        self._frequency: dict[Hashable, int] = {}
        self._buckets: dict[int, dict[Hashable, None]] = {}
        self._minimum = 0
        self._accesses_since_aging = 0

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        self.remove(key)
        frequency = 0 if low_priority else 1
        self._place(key, frequency)
        self._minimum = min(self._minimum, frequency) if len(self._frequency) > 1 else frequency

    def record_access(self, key: Hashable) -> None:
        frequency = self._frequency[key]
        self._unplace(key, frequency)
        self._place(key, frequency + 1)
        if frequency == self._minimum and frequency not in self._buckets:
            self._minimum = frequency + 1
        self._accesses_since_aging += 1
        if self._accesses_since_aging >= max(1024, AGING_PERIOD_PER_ENTRY * len(self._frequency)):
            self._age()

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        frequency = self._frequency.pop(key, None)
        if frequency is not None:
            self._unplace(key, frequency)

    def choose_victim(self) -> Hashable | None:
        if not self._frequency:
            return None
        if self._minimum not in self._buckets:
            self._minimum = min(self._buckets)
        return next(iter(self._buckets[self._minimum]))

    def frequency(self, key: Hashable) -> int:
        """Return the (aged) read count of a resident key; raises KeyError when absent."""
        return self._frequency[key]

    def _place(self, key: Hashable, frequency: int) -> None:
        self._frequency[key] = frequency
        self._buckets.setdefault(frequency, {})[key] = None

    def _unplace(self, key: Hashable, frequency: int) -> None:
        bucket = self._buckets[frequency]
        del bucket[key]
        if not bucket:
            del self._buckets[frequency]

    def _age(self) -> None:
        self._accesses_since_aging = 0
        old_buckets = self._buckets
        self._buckets = {}
        for frequency in sorted(old_buckets):
            for key in old_buckets[frequency]:
                self._place(key, (frequency + 1) // 2)
        self._minimum = min(self._buckets, default=0)

    def __len__(self) -> int:
        return len(self._frequency)

    def __contains__(self, key: object) -> bool:
        return key in self._frequency
