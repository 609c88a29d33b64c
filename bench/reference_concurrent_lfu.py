"""Bench-only reference: BitFaster.Caching's ConcurrentLfu (W-TinyLFU with hill climbing), ported to Python.

Ported from github.com/bitfaster/BitFaster.Caching at commit f0dfd829 (BitFaster.Caching/Lfu/):
``ConcurrentLfuCore.cs`` (Maintenance, OnAccess, OnWrite, PromoteProbation, EvictFromWindow, EvictFromMain,
AdmitCandidate, ReFitProtected), ``LfuCapacityPartition.cs`` (the hill climber) and ``CmSketchCore.cs``
(the block count-min sketch, its scalar path). There is no .NET runtime on this machine, so the algorithm is
replayed here, not the library. One deliberate difference: ConcurrentLfu buffers reads and writes and applies
them in its maintenance pass; a single-threaded replay applies each request at once (maintenance after every
request), as Caffeine's simulator does for its policies. Keys are 64-bit integers hashed like .NET's
``Int64.GetHashCode`` (low word xor high word).

Not used by the product: it exists to compare our W-TinyLFU with it in ``bench/cache_hit_ratio.py``.
"""

from __future__ import annotations

from collections import OrderedDict

MASK32 = 0xFFFFFFFF
RESET_MASK = 0x7777777777777777
ONE_MASK = 0x1111111111111111

HILL_CLIMBER_RESTART_THRESHOLD = 0.05
HILL_CLIMBER_STEP_PERCENT = 0.0625
HILL_CLIMBER_STEP_DECAY_RATE = 0.98
DEFAULT_MAIN_PERCENTAGE = 0.99
MAX_MAIN_PERCENTAGE = 0.999
MIN_MAIN_PERCENTAGE = 0.2


def _int_hash(key: int) -> int:
    """.NET Int64.GetHashCode as an unsigned 32-bit value."""
    value = key & 0xFFFFFFFFFFFFFFFF
    return (value ^ (value >> 32)) & MASK32


def _spread(x: int) -> int:
    x ^= x >> 17
    x = (x * 0xED5AD4BB) & MASK32
    x ^= x >> 11
    x = (x * 0xAC4C1B51) & MASK32
    x ^= x >> 15
    return x


def _rehash(x: int) -> int:
    x = (x * 0x31848BAB) & MASK32
    x ^= x >> 14
    return x


def _ceiling_power_of_two(value: int) -> int:
    return 1 << max(value - 1, 0).bit_length()


class CmSketch:
    """CmSketchCore: 4-bit counters in 64-byte blocks, four counters per key in one block, halved every
    ``10 × capacity`` increments."""

    def __init__(self, maximum_size: int) -> None:
        maximum = min(maximum_size, (2**31 - 1) >> 1)
        self.table = [0] * max(_ceiling_power_of_two(maximum), 8)
        self.block_mask = (len(self.table) >> 3) - 1
        self.sample_size = 10 if maximum_size == 0 else 10 * maximum
        self.size = 0

    def _slots(self, key: int) -> list[tuple[int, int]]:
        block_hash = _spread(_int_hash(key))
        counter_hash = _rehash(block_hash)
        block = (block_hash & self.block_mask) << 3
        slots = []
        for row in range(4):
            h = counter_hash >> (8 * row)
            slots.append((block + (h & 1) + 2 * row, (h >> 1) & 15))
        return slots

    def estimate_frequency(self, key: int) -> int:
        return min((self.table[slot] >> (index << 2)) & 0xF for slot, index in self._slots(key))

    def increment(self, key: int) -> None:
        added = False
        for slot, index in self._slots(key):
            offset = index << 2
            mask = 0xF << offset
            if self.table[slot] & mask != mask:
                self.table[slot] += 1 << offset
                added = True
        if added:
            self.size += 1
            if self.size == self.sample_size:
                self._reset()

    def _reset(self) -> None:
        odd = 0
        for index, value in enumerate(self.table):
            odd += (value & ONE_MASK).bit_count()
            self.table[index] = (value >> 1) & RESET_MASK
        self.size = (self.size - (odd >> 2)) >> 1


class CapacityPartition:
    """LfuCapacityPartition: window / protected / probation capacities, adapted by hill climbing."""

    def __init__(self, capacity: int) -> None:
        if capacity < 3:
            raise ValueError("Capacity must be greater than or equal to 3.")
        self.max = capacity
        self.main_ratio = DEFAULT_MAIN_PERCENTAGE
        self.window, self.protected, self.probation = self._queue_capacity(DEFAULT_MAIN_PERCENTAGE)
        self.step_size = HILL_CLIMBER_STEP_PERCENT
        self.previous_hit_rate = 1.0
        self.previous_hits = self.previous_misses = 0

    def _queue_capacity(self, main_percentage: float) -> tuple[int, int, int]:
        window = self.max - int(main_percentage * self.max)
        protected = int(0.8 * (self.max - window))
        return window, protected, self.max - window - protected

    def optimize(self, hits: int, misses: int, sample_threshold: int) -> None:
        sample_hits = hits - self.previous_hits
        sample_misses = misses - self.previous_misses
        sample_count = sample_hits + sample_misses
        if sample_count < sample_threshold:
            return
        sample_hit_rate = sample_hits / sample_count
        change = sample_hit_rate - self.previous_hit_rate
        amount = self.step_size if change >= 0 else -self.step_size
        if abs(change) >= HILL_CLIMBER_RESTART_THRESHOLD:
            self.step_size = HILL_CLIMBER_STEP_PERCENT * (1 if amount >= 0 else -1)
        else:
            self.step_size = HILL_CLIMBER_STEP_DECAY_RATE * amount
        self.previous_hits, self.previous_misses = hits, misses
        self.previous_hit_rate = sample_hit_rate
        self.main_ratio = max(MIN_MAIN_PERCENTAGE, min(self.main_ratio - amount, MAX_MAIN_PERCENTAGE))
        self.window, self.protected, self.probation = self._queue_capacity(self.main_ratio)


class ConcurrentLfu:
    """The replacement decisions of ConcurrentLfu for ``capacity`` entries; :meth:`request` returns hit or miss."""

    def __init__(self, capacity: int) -> None:
        self.capacity = CapacityPartition(capacity)
        self.sketch = CmSketch(capacity)
        self.window: OrderedDict[int, None] = OrderedDict()
        self.probation: OrderedDict[int, None] = OrderedDict()
        self.protected: OrderedDict[int, None] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self.window) + len(self.probation) + len(self.protected)

    def request(self, key: int) -> bool:
        if key in self.window or key in self.probation or key in self.protected:
            self.sketch.increment(key)
            self._on_access(key)
            self._maintenance()
            return True
        self.misses += 1
        self.sketch.increment(key)  # OnWrite
        self.window[key] = None
        self._maintenance()
        return False

    def _on_access(self, key: int) -> None:
        self.hits += 1
        if key in self.window:
            self.window.move_to_end(key)
        elif key in self.probation:
            self._promote_probation(key)
        else:
            self.protected.move_to_end(key)

    def _promote_probation(self, key: int) -> None:
        del self.probation[key]
        self.protected[key] = None
        if len(self.protected) > self.capacity.protected:
            demoted, _ = self.protected.popitem(last=False)
            self.probation[demoted] = None

    def _maintenance(self) -> None:
        candidate = self._evict_from_window()
        self._evict_from_main(candidate)
        self.capacity.optimize(self.hits, self.misses, self.sketch.sample_size)
        while len(self.protected) > self.capacity.protected:  # ReFitProtected
            demoted, _ = self.protected.popitem(last=False)
            self.probation[demoted] = None

    def _evict_from_window(self) -> int | None:
        first = None
        while len(self.window) > self.capacity.window:
            node, _ = self.window.popitem(last=False)
            if first is None:
                first = node
            self.probation[node] = None
        return first

    def _next_in_probation(self, key: int | None) -> int | None:
        """The node after ``key`` in probation (a linked list in C#; a scan here, needed only when one
        maintenance pass evicts more than one entry, which a request-at-a-time replay never asks for)."""
        keys = iter(self.probation)
        for node in keys:
            if node == key:
                return next(keys, None)
        return None

    def _evict_from_main(self, candidate: int | None) -> None:
        frequency = self.sketch.estimate_frequency
        victim = next(iter(self.probation), None)  # victims start at the LRU end of probation
        while len(self) > self.capacity.max:
            if candidate is None or victim is None:
                break
            if victim == candidate:
                del self.probation[candidate]
                break
            more = len(self) - 1 > self.capacity.max
            if frequency(candidate) > frequency(victim):
                evictee = victim
                victim = self._next_in_probation(victim) if more else None
                candidate = self._next_in_probation(candidate) if more else None
            else:
                evictee = candidate
                candidate = self._next_in_probation(candidate) if more else None
            del self.probation[evictee]
        while len(self) > self.capacity.max:  # second pass: the two oldest probation entries duel
            oldest = iter(self.probation)
            first, second = next(oldest), next(oldest)
            del self.probation[second if frequency(first) > frequency(second) else first]
