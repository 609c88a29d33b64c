"""L1: Python objects in process memory, under a byte budget that includes per-entry overhead."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import attrgetter
from sys import getsizeof
from typing import TYPE_CHECKING, Protocol, cast

from memories.compiled import load_compiled
from memories.errors import ValueTooLarge
from memories.optimization.cache.policies import EvictionPolicy
from memories.optimization.cache.sizing import estimate_size
from memories.optimization.cache.stats import TierCounters, TierStats

ENTRY_OVERHEAD_BYTES = 150
"""Bytes of bookkeeping per L1 entry outside the key and the value: the ``MemoryEntry`` object
(48 bytes compiled; 64 bytes for the pure-Python one, with its GC header) and its slot in the tier's dict (up to ~80 bytes right after the
dict grows). Each policy adds its own ``entry_overhead_bytes`` (LRU 120, LFU 120, W-TinyLFU 400, S3-FIFO 500,
the latter including its ghost queue and lazily dropped queue slots). Measured with tracemalloc
filling a tier with 8× its capacity of 16-byte to 4 KiB values: real growth stayed within
0.85–1.0× the budget. ``tests/unit/optimization/cache/test_memory_tier.py`` keeps checking it
(growth ≤ 1.1 × capacity + 64 KiB)."""


class PythonMemoryEntry:
    """One resident value: ``size`` is its accounted cost in bytes, ``expires_at`` clock seconds or None.

    The pure-Python entry, and the reference for the compiled one (``_entry.c``), which has the same attributes but
    no garbage-collector header: a full collection walks every object that has one, so a million of these made
    each full collection a ~0.5 s pause of the event loop (docs/benchmarks/cache.md).
    """

    __slots__ = ("expires_at", "reads", "size", "value")

    def __init__(self, value: object, size: int, expires_at: float | None) -> None:
        self.value = value
        self.size = size
        self.expires_at = expires_at
        self.reads = 0


_compiled_entry = load_compiled("memories.optimization.cache._entry")
#: The compiled MemoryTier.costs of bytes values (None for other values), or None when not built.
_compiled_costs: Callable[[list[str], list[bytes], int], list[int] | None] | None = (
    None if _compiled_entry is None else _compiled_entry.costs
)


if TYPE_CHECKING:
    MemoryEntry = PythonMemoryEntry
else:  # the compiled one has the same attributes (test_memory_entry.py)
    MemoryEntry = PythonMemoryEntry if _compiled_entry is None else _compiled_entry.MemoryEntry


class EntryIndex(Protocol):
    """What L1 uses, besides a mapping's interface, of a policy that keeps its entries (``indexes_entries``: the
    compiled LRU order, ``_lru.c``)."""

    def warm_lookups(self, keys: list[str], /) -> None:
        """Start loading into the CPU's caches what looking up each of ``keys`` reads (changes nothing)."""

    def pop_many(self, keys: list[str], /) -> list[MemoryEntry]:
        """Remove each present key of ``keys``; their entries, in order."""

    def add_absent(self, keys: list[str], entries: list[MemoryEntry], /) -> int:
        """Add each key with its entry, the most recently used, up to the first present one; how many were added."""


#: An entry's accounted cost in bytes.
_size_of = attrgetter("size")


@dataclass(frozen=True, slots=True)
class Evicted:
    """Entries pushed out by one admission, in eviction order, and whether the admission happened."""

    admitted: bool
    entries: tuple[tuple[str, MemoryEntry], ...] = ()


#: An admission that pushed nothing out.
NOTHING_EVICTED = Evicted(admitted=True)


class MemoryTier:
    """A byte-bounded dict of :class:`MemoryEntry` ordered by an eviction policy.

    ``capacity_bytes`` bounds the sum of entry costs (key + value + overheads, see
    :meth:`cost`). ``clock`` returns seconds (the same clock the expiry times use).
    Expired entries are never returned and are dropped when met.
    """

    name = "l1"

    def __init__(self, capacity_bytes: int, policy: EvictionPolicy, clock: Callable[[], float]) -> None:
        self.capacity_bytes = capacity_bytes
        self.bytes_used = 0
        self.counters = TierCounters()
        self._policy = policy
        self._clock = clock
        # A policy that can hold a payload per key (the compiled LRU order) doubles as the index: one hash
        # probe per read instead of two. Its mapping interface behaves like a dict's (see _lru.c).
        self._indexed = bool(getattr(policy, "indexes_entries", False))
        self._entries: MutableMapping[str, MemoryEntry] = (
            cast("MutableMapping[str, MemoryEntry]", policy) if self._indexed else {}
        )
        self._per_entry_overhead = ENTRY_OVERHEAD_BYTES + policy.entry_overhead_bytes
        #: The index's batch operations, if the policy is the index.
        self._index: EntryIndex | None = cast("EntryIndex", policy) if self._indexed else None
        #: Called with each key that leaves the tier (deleted, evicted, expired, cleared); not by store(), the
        #: write path of a cache with no other tier.
        self.on_remove: Callable[[str], None] | None = None

    def now(self) -> float:
        """The tier's clock (seconds), as expiry times are compared with it."""
        return self._clock()

    def cost(self, key: str, value: object) -> int:
        """Return the bytes an entry for ``key`` and ``value`` is accounted for."""
        size = getsizeof(value) if type(value) is bytes else estimate_size(value)
        return getsizeof(key) + size + self._per_entry_overhead

    def costs(self, keys: Sequence[str], values: Sequence[object]) -> list[int]:
        """:meth:`cost` of each pair of ``keys`` and ``values`` (bytes): in one C call for lists of str keys and
        bytes values when ``_entry`` is built (``_entry.c``, the same sums), else key by key."""
        if _compiled_costs is not None and type(keys) is list and type(values) is list:
            compiled = _compiled_costs(keys, values, self._per_entry_overhead)  # None unless every value is bytes
            if compiled is not None:
                return compiled
        cost = self.cost
        return [cost(key, value) for key, value in zip(keys, values, strict=True)]

    def lookup(self, key: str, *, count_miss: bool = True) -> MemoryEntry | None:
        """Return the live entry of ``key`` and record the read (hit, or miss if ``count_miss``)."""
        entry = self._entries.get(key)
        if entry is None or (entry.expires_at is not None and entry.expires_at <= self._clock()):
            if entry is not None:
                self.delete(key)
            self.counters.misses += count_miss
            return None
        self.counters.hits += 1
        entry.reads += 1
        self._policy.record_access(key)
        return entry

    def peek(self, key: str) -> MemoryEntry | None:
        """Return the live entry of ``key`` without counting a read; drops it if expired."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
            self.delete(key)
            return None
        return entry

    def put(
        self,
        key: str,
        value: object,
        expires_at: float | None,
        *,
        low_priority: bool = False,
        size: int | None = None,
    ) -> Evicted:
        """Store ``value`` under ``key``, evicting as the policy decides.

        With ``low_priority`` (a prefetch) only entries never read since they entered L1 may be
        evicted; if that is not enough room, nothing is stored and ``admitted`` is False.
        ``size`` is :meth:`cost` when the caller already computed it. Raises ValueTooLarge when the entry alone exceeds the capacity.
        """
        size = self.cost(key, value) if size is None else size
        entries = self._entries
        if key not in entries and self.bytes_used + size <= self.capacity_bytes:
            # A new key with room, the usual write-through install: no eviction, nothing to delete first.
            self._insert(key, MemoryEntry(value, size, expires_at), low_priority)
            return NOTHING_EVICTED
        self._check_size(size)
        self.delete(key)
        evicted = self._make_room(size, only_unread=low_priority)
        if evicted.admitted:
            self._insert(key, MemoryEntry(value, size, expires_at), low_priority)
        return evicted

    def insert_new(self, keys: Sequence[str], values: Sequence[object], sizes: Sequence[int]) -> int:
        """:meth:`put` of each of the leading pairs of ``keys`` and ``values`` (no expiry; ``sizes`` their
        :meth:`cost`, bytes) while the key is new and the tier has room for it, the usual write-through install of a
        batch; returns how many were stored (the rest need :meth:`put`, which may evict)."""
        index, capacity = self._index, self.capacity_bytes
        if index is not None and type(keys) is list and len(keys) == len(values) == len(sizes):
            index.warm_lookups(keys)
            total = sum(sizes)
            if self.bytes_used + total <= capacity:
                # Room for the whole batch, nearly always: its entries made and added in two C calls, no step per
                # key here (a new key of the index is already its most recently used: nothing else to tell).
                entries = list(map(MemoryEntry, values, sizes, repeat(None, len(keys))))
                try:
                    stored = index.add_absent(keys, entries)
                except BaseException:
                    self._recount()  # the keys added before the failure count too: the budget holds
                    raise
                self.bytes_used += total if stored == len(keys) else sum(islice(sizes, stored))
                return stored
        # What _inserted() does, key by key: the sizes are added up here, and only a policy that is not the index
        # hears of each new key.
        add = self._entries.setdefault
        record = None if self._indexed else self._policy.record_insert
        used, stored = self.bytes_used, 0
        try:
            for key, value, size in zip(keys, values, sizes, strict=True):
                if used + size > capacity:
                    break
                entry = MemoryEntry(value, size, None)
                if add(key, entry) is not entry:  # (one probe of the index) the key is held: put() replaces it
                    break
                used += size
                stored += 1
                if record is not None:
                    record(key, size, low_priority=False)
        finally:
            self.bytes_used = used
        return stored

    def _insert(self, key: str, entry: MemoryEntry, low_priority: bool = False) -> None:
        """Add the entry of a key the tier does not hold, with room for it, and tell the policy."""
        self._entries[key] = entry
        self._inserted(key, entry, low_priority)

    def _inserted(self, key: str, entry: MemoryEntry, low_priority: bool = False) -> None:
        """Account for ``entry`` of ``key``, just added to the entries with room for it, and tell the policy."""
        self.bytes_used += entry.size
        if not self._indexed or low_priority:  # a new key of the index is already the most recently used
            self._policy.record_insert(key, entry.size, low_priority=low_priority)

    def store(self, key: str, value: object, expires_at: float | None) -> bool:
        """Store ``value`` under ``key`` at normal priority, dropping what it evicts (for a cache with no lower tier).

        Returns False, storing nothing, when the entry alone (its :meth:`cost`) exceeds the capacity.
        """
        size = getsizeof(key) + (getsizeof(value) if type(value) is bytes else estimate_size(value))
        size += self._per_entry_overhead  # that is cost(), inlined: this runs for every SET of the sidecar
        if size > self.capacity_bytes:
            return False
        # The hot write path of an L1-only cache, so the steps of delete() and put() are inlined,
        # and an overwrite that needs no eviction updates the entry in place.
        policy = self._policy
        previous = self._entries.get(key)
        if previous is not None:
            previous_size = previous.size  # read once: the compiled entry makes an int for each read
            if self.bytes_used - previous_size + size <= self.capacity_bytes:
                self.bytes_used += size - previous_size
                previous.value = value
                previous.size = size
                previous.expires_at = expires_at
                previous.reads = 0
                policy.record_replace(key, size)
                return True
            del self._entries[key]
            self.bytes_used -= previous_size
            if not self._indexed:
                policy.remove(key, evicted=False)
        if self.bytes_used + size > self.capacity_bytes:
            self._make_room(size, only_unread=False)
        self._insert(key, MemoryEntry(value, size, expires_at))
        return True

    def _check_size(self, size: int) -> None:
        if size > self.capacity_bytes:
            raise ValueTooLarge(f"l1: entry of {size} bytes exceeds the capacity of {self.capacity_bytes} bytes")

    def _make_room(self, size: int, *, only_unread: bool) -> Evicted:
        if self.bytes_used + size <= self.capacity_bytes:
            return NOTHING_EVICTED
        entries: list[tuple[str, MemoryEntry]] = []
        while self.bytes_used + size > self.capacity_bytes:
            victim = self._policy.choose_victim()
            if not isinstance(victim, str):
                raise AssertionError("the eviction policy has no victim although the tier is over budget")
            entry = self._entries[victim]
            if only_unread and entry.reads:
                return Evicted(admitted=False, entries=tuple(entries))
            self._remove(victim, evicted=True)
            self.counters.evictions += 1
            entries.append((victim, entry))
        return Evicted(admitted=True, entries=tuple(entries))

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was resident (expired or not)."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._removed(key, entry, evicted=False)
        return True

    def delete_many(self, keys: Iterable[str]) -> None:
        """:meth:`delete` each of ``keys``."""
        index = self._index
        if index is not None and self.on_remove is None and type(keys) is list:
            # What _removed() does for each key is taking its size off: done here, after one C call for the batch.
            index.warm_lookups(keys)
            try:
                popped = index.pop_many(keys)
            except BaseException:
                self._recount()  # the keys removed before the failure took their entries with them
                raise
            self.bytes_used -= sum(map(_size_of, popped))
            return
        pop, removed = self._entries.pop, self._removed
        for key in keys:
            entry = pop(key, None)
            if entry is not None:
                removed(key, entry, evicted=False)

    def _recount(self) -> None:
        """Sum the resident entries' sizes again (bytes): after a batch call into the index failed part-way (a
        MemoryError, or the index changed from inside a key's comparison), which of the batch's keys it removed or
        added is not known."""
        self.bytes_used = sum(entry.size for _key, entry in self.items())

    def _remove(self, key: str, *, evicted: bool) -> None:
        self._removed(key, self._entries.pop(key), evicted=evicted)

    def _removed(self, key: str, entry: MemoryEntry, *, evicted: bool) -> None:
        """Account for ``entry`` of ``key``, just taken out of the entries."""
        self.bytes_used -= entry.size
        if not self._indexed:  # the index forgot the key with its entry
            self._policy.remove(key, evicted=evicted)
        if self.on_remove is not None:
            self.on_remove(key)

    def clear(self) -> None:
        """Remove every entry (not counted as evictions)."""
        for key in list(self._entries):
            self._remove(key, evicted=False)

    def items(self) -> list[tuple[str, MemoryEntry]]:
        """Every resident entry (expired ones included), as a list taken now."""
        return list(self._entries.items())

    def keys(self) -> Iterator[str]:
        """Iterate over the keys of live (unexpired) entries."""
        now = self._clock()
        return (key for key, entry in list(self._entries.items()) if entry.expires_at is None or entry.expires_at > now)

    def stats(self) -> TierStats:
        """Return the tier's counters; ``entries`` includes expired entries not yet dropped."""
        return self.counters.snapshot(self.name, self.bytes_used, self.capacity_bytes, len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
