"""S3-FIFO: a small probationary FIFO, a main FIFO and a ghost FIFO (Yang et al., SOSP 2023)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import ClassVar

from memories.optimization.cache.policies.base import ReplaceByReinsert

SMALL_QUEUE_SHARE = 0.10
"""Share of the resident bytes that the small (probationary) queue may hold."""
MAXIMUM_FREQUENCY = 3
"""Reads are counted up to this cap (two bits in the paper)."""
MOVE_TO_MAIN_THRESHOLD = 2
"""Reads in the small queue that earn a key its place in the main queue (libcachesim's default; with 1, the
orm-busy trace at 10 % of its keys misses 0.2 points more, see docs/benchmarks/cache.md)."""
GHOST_SHARE = 0.90
"""The ghost queue remembers at most this many hashes per resident key (libcachesim: 90 % of the cache)."""

_SMALL = 0
_MAIN = 1


class S3FifoPolicy(ReplaceByReinsert):
    """Scan-resistant FIFO-based policy.

    New keys enter the small queue. When the small queue holds more than 10% of the resident
    bytes, its oldest key is examined: if it was read at least twice since insertion it moves to the
    main queue, otherwise it is the victim and its hash is remembered in the ghost queue. A key inserted while
    its hash is in the ghost queue goes straight to main. The main queue evicts its oldest key with
    frequency 0 and re-queues the others with their frequency decremented (lazy promotion).

    Low-priority (prefetched) keys always enter the small queue, even when remembered by the ghost
    queue, so they are the first candidates for eviction unless read. The ghost queue holds hashes
    (not keys), at most 90 % as many as there are resident keys.
    Removing a key is O(1): queue slots are invalidated lazily with an insertion generation.
    """

    name: ClassVar[str] = "s3fifo"
    summary: ClassVar[str] = "scan resistant, good for one-hit-wonder traffic"
    entry_overhead_bytes: ClassVar[int] = 500

    def __init__(self) -> None:
        self._queues: tuple[deque[tuple[Hashable, int]], deque[tuple[Hashable, int]]] = (deque(), deque())
        self._bytes = [0, 0]
        self._location: dict[Hashable, tuple[int, int, int]] = {}  # key -> (queue, generation, size)
        self._frequency: dict[Hashable, int] = {}
        self._ghost: OrderedDict[int, None] = OrderedDict()
        self._generation = 0

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        self.remove(key)
        fingerprint = hash(key)
        queue = _SMALL
        if fingerprint in self._ghost:
            del self._ghost[fingerprint]
            if not low_priority:
                queue = _MAIN
        self._enqueue(key, queue, size)
        self._frequency[key] = 0

    def record_access(self, key: Hashable) -> None:
        self._frequency[key] = min(self._frequency[key] + 1, MAXIMUM_FREQUENCY)

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        location = self._location.pop(key, None)
        if location is None:
            return
        queue, _generation, size = location
        self._bytes[queue] -= size
        del self._frequency[key]
        if evicted and queue == _SMALL:
            self._ghost[hash(key)] = None
            while len(self._ghost) > max(int(GHOST_SHARE * len(self._location)), 1):
                self._ghost.popitem(last=False)

    def choose_victim(self) -> Hashable | None:
        while self._location:
            total = self._bytes[_SMALL] + self._bytes[_MAIN]
            from_small = self._bytes[_SMALL] > SMALL_QUEUE_SHARE * total or not self._bytes[_MAIN]
            key = self._oldest_live(_SMALL if from_small else _MAIN)
            queue, _generation, size = self._location[key]
            if self._frequency[key] < (MOVE_TO_MAIN_THRESHOLD if queue == _SMALL else 1):
                return key
            self._queues[queue].popleft()
            self._bytes[queue] -= size
            if queue == _MAIN:
                self._frequency[key] -= 1
            else:
                self._frequency[key] = 0
            self._enqueue(key, _MAIN, size)
        return None

    def _oldest_live(self, preferred: int) -> Hashable:
        """Return the head key of ``preferred`` (or of the other queue if it has no live key).

        Slots of removed or re-inserted keys met at a head are dropped on the way.
        """
        for queue in (preferred, 1 - preferred):
            slots = self._queues[queue]
            while slots:
                key, generation = slots[0]
                location = self._location.get(key)
                if location is not None and location[0] == queue and location[1] == generation:
                    return key
                slots.popleft()
        raise AssertionError("S3-FIFO queues hold no live key although keys are resident")

    def _enqueue(self, key: Hashable, queue: int, size: int) -> None:
        self._generation += 1
        self._location[key] = (queue, self._generation, size)
        self._bytes[queue] += size
        slots = self._queues[queue]
        slots.append((key, self._generation))
        if len(slots) > 2 * len(self._location) + 64:
            self._compact(queue)

    def _compact(self, queue: int) -> None:
        """Drop every stale slot of ``queue`` (keeps memory bounded under repeated re-inserts)."""
        live = [
            (key, generation)
            for key, generation in self._queues[queue]
            if (location := self._location.get(key)) is not None and location[:2] == (queue, generation)
        ]
        self._queues[queue].clear()
        self._queues[queue].extend(live)

    def __len__(self) -> int:
        return len(self._location)

    def __contains__(self, key: object) -> bool:
        return key in self._location
