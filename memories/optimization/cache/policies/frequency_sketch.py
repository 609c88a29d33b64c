"""Approximate access counts for TinyLFU: a doorkeeper set in front of a count-min sketch."""

from __future__ import annotations

from collections.abc import Hashable

DEPTH = 4
MAXIMUM_COUNT = 15
"""Counters saturate here (4 bits in the paper)."""
_SEEDS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)


class FrequencySketch:
    """Counts recent accesses per key in bounded memory.

    The first access of a key only sets its doorkeeper bit; later ones increment ``DEPTH``
    one-byte counters of ``width`` (the estimate is their minimum, plus the doorkeeper bit).
    After ``10 × width`` increments, or when the doorkeeper holds ``width`` keys, every counter
    is halved and the doorkeeper cleared, so old popularity fades. :meth:`ensure_width` grows
    the sketch (restarting it) to the number of resident keys, so memory stays proportional
    to them: ``DEPTH`` bytes plus at most one doorkeeper hash per unit of width.
    """

    def __init__(self, width: int = 1024) -> None:
        self._reset_counts(width)

    def _reset_counts(self, width: int) -> None:
        self._width = width
        self._mask = width - 1
        self._rows = [bytearray(width) for _ in range(DEPTH)]
        self._doorkeeper: set[int] = set()
        self._increments = 0

    def ensure_width(self, keys: int) -> None:
        """Grow to at least ``keys`` counters per row (a power of two); restarts the counts."""
        if keys > self._width:
            self._reset_counts(1 << (keys - 1).bit_length())

    def _indexes(self, key: Hashable) -> list[int]:
        code = hash(key)
        return [((code ^ seed) * 0x9E3779B97F4A7C15 >> 17) & self._mask for seed in _SEEDS]

    def increment(self, key: Hashable) -> None:
        code = hash(key)
        if code not in self._doorkeeper:
            self._doorkeeper.add(code)
            if len(self._doorkeeper) > self._width:
                self._age()
            return
        for row, index in zip(self._rows, self._indexes(key), strict=True):
            if row[index] < MAXIMUM_COUNT:
                row[index] += 1
        self._increments += 1
        if self._increments >= 10 * self._width:
            self._age()

    def estimate(self, key: Hashable) -> int:
        counted = min(row[index] for row, index in zip(self._rows, self._indexes(key), strict=True))
        return counted + (hash(key) in self._doorkeeper)

    def _age(self) -> None:
        self._rows = [bytearray(count >> 1 for count in row) for row in self._rows]
        self._doorkeeper.clear()
        self._increments = 0
