"""Approximate access counts for TinyLFU: a doorkeeper bit set in front of a count-min sketch."""

from __future__ import annotations

from collections.abc import Hashable

DEPTH = 4
MAXIMUM_COUNT = 15
"""Counters saturate here (4 bits in the paper)."""
SAMPLE_FACTOR = 10
"""Counters are halved after ``SAMPLE_FACTOR × width`` increments."""
DOORKEEPER_FACTOR = 4
"""The doorkeeper starts afresh after this many first sightings per unit of width (it has 8 bits for each)."""
# Odd 64-bit multipliers, one per row and one for the doorkeeper: the high bits of ``hash × multiplier``
# (mod 2**64) are the index, so every row depends on all the bits of the key's hash.
_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_DOORKEEPER_MULTIPLIER = 0xFF51AFD7ED558CCD
_MASK64 = (1 << 64) - 1


class FrequencySketch:
    """Counts recent accesses per key in bounded memory.

    The first access of a key only sets its doorkeeper bit; later ones increment ``DEPTH``
    one-byte counters of ``width`` (the estimate is their minimum, plus the doorkeeper bit).
    After ``SAMPLE_FACTOR × width`` increments every counter is halved and the doorkeeper cleared,
    so old popularity fades. The doorkeeper (``8 × DOORKEEPER_FACTOR`` bits per unit of width) is
    also cleared alone after ``DOORKEEPER_FACTOR × width`` first sightings, so a scan of new keys
    neither fills it nor ages the counts of the keys that matter. :meth:`ensure_width` grows the
    sketch (restarting it) to the number of resident keys: memory is ``DEPTH + DOORKEEPER_FACTOR``
    bytes per unit of width.
    """

    def __init__(self, width: int = 1024) -> None:
        self._reset_counts(width)

    def _reset_counts(self, width: int) -> None:
        self._width = width
        self._shift = 64 - (width.bit_length() - 1)
        self._rows = [bytearray(width) for _ in range(DEPTH)]
        self._doorkeeper = bytearray(DOORKEEPER_FACTOR * width)
        self._doorkeeper_shift = 64 - ((8 * DOORKEEPER_FACTOR * width).bit_length() - 1)
        self._first_sightings = 0
        self._increments = 0

    def ensure_width(self, keys: int) -> None:
        """Grow to at least ``keys`` counters per row (a power of two); restarts the counts."""
        if keys > self._width:
            self._reset_counts(1 << (keys - 1).bit_length())

    def _indexes(self, key: Hashable) -> list[int]:
        code = hash(key) & _MASK64
        return [(code * multiplier & _MASK64) >> self._shift for multiplier in _MULTIPLIERS]

    def _doorkeeper_bit(self, key: Hashable) -> tuple[int, int]:
        bit = ((hash(key) & _MASK64) * _DOORKEEPER_MULTIPLIER & _MASK64) >> self._doorkeeper_shift
        return bit >> 3, 1 << (bit & 7)

    def increment(self, key: Hashable) -> None:
        """Count one access of ``key``."""
        byte, bit = self._doorkeeper_bit(key)
        if not self._doorkeeper[byte] & bit:
            self._doorkeeper[byte] |= bit
            self._first_sightings += 1
            if self._first_sightings >= DOORKEEPER_FACTOR * self._width:
                self._clear_doorkeeper()
            return
        for row, index in zip(self._rows, self._indexes(key), strict=True):
            if row[index] < MAXIMUM_COUNT:
                row[index] += 1
        self._increments += 1
        if self._increments >= SAMPLE_FACTOR * self._width:
            self._age()

    def estimate(self, key: Hashable) -> int:
        """The estimated recent access count of ``key`` (0 when never seen)."""
        counted = min(row[index] for row, index in zip(self._rows, self._indexes(key), strict=True))
        byte, bit = self._doorkeeper_bit(key)
        return counted + bool(self._doorkeeper[byte] & bit)

    def _clear_doorkeeper(self) -> None:
        self._doorkeeper = bytearray(len(self._doorkeeper))
        self._first_sightings = 0

    def _age(self) -> None:
        self._rows = [bytearray(count >> 1 for count in row) for row in self._rows]
        self._clear_doorkeeper()
        self._increments = 0
