"""The copies one process keeps: L1 in memory and L2 on disk, moved between each other without a window.

:class:`LocalCopies` is where values enter, leave and move between the two local tiers: an admission into L1
demotes what L1 evicts into L2 in the same step (:meth:`DiskTier.put` takes effect when called), so a value is
never in neither tier while it moves. With L3 these tiers hold copies of L3's keys; without L3 they are the cache.

Invariant: when L1 holds a key, L2 holds nothing for it or the very same value (a promotion keeps L2's copy; any
other admission into L1 deletes L2's copy first). So an evicted entry whose key L2 still has needs no write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from memories.errors import CorruptDataError, ValueTooLarge
from memories.optimization.cache.codec import UnencodableValue, decode, encode, pack, unpack
from memories.optimization.cache.disk_format import HEADER, key_bytes
from memories.optimization.cache.disk_tier import DiskTier
from memories.optimization.cache.keys import MISSING
from memories.optimization.cache.memory_tier import MemoryEntry, MemoryTier
from memories.optimization.cache.tier import Presence

logger = logging.getLogger(__name__)


def pack_or_none(value: object) -> bytes | None:
    """The codec's packed bytes of ``value``, or None when the codec cannot encode it (it then stays in L1 only)."""
    try:
        return pack(encode(value))
    except UnencodableValue as error:
        logger.debug("value kept in L1 only: %s", error)
        return None


class LocalCopies:
    """L1 and the optional L2 of one cache. Every method but :meth:`read_l2` and :meth:`settle` completes at once."""

    def __init__(self, l1: MemoryTier, l2: DiskTier | None) -> None:
        self.l1 = l1
        self.l2 = l2
        #: Keys both tiers hold (promoted from L2), so that :meth:`__len__` counts each key once in O(1).
        self._in_both: set[str] = set()
        if l2 is not None:
            l1.on_remove = l2.on_remove = self._in_both.discard

    def install(
        self,
        key: str,
        value: object,
        expires_at: float | None,
        *,
        packed: bytes | None = None,
        cost: int | None = None,
        low_priority: bool = False,
        in_l2: bool = False,
    ) -> bool:
        """Make ``value`` the local value of ``key``: into L1 (demoting what it evicts), or into L2 when L1 cannot
        hold it. Any older copy is replaced or removed; returns whether a tier took the value.

        ``packed`` is the codec's bytes when the caller has them, ``cost`` L1's cost of the entry, ``in_l2`` that
        the value comes from L2 (a promotion: L2 keeps it), ``low_priority`` a prefetch (L1 only, never pushing out
        read entries; nothing changes when there is no room).
        """
        l2 = self.l2
        if l2 is not None and not in_l2:
            l2.delete(key)  # before L1 admits: nothing newer can be deleted by it afterwards
        try:
            evicted = self.l1.put(key, value, expires_at, low_priority=low_priority, size=cost)
        except ValueTooLarge:
            self.l1.delete(key)
            admitted = False
        else:
            admitted = evicted.admitted
            self._demote(evicted.entries)
        if admitted and in_l2 and l2 is not None and key in l2:
            self._in_both.add(key)
        if admitted or low_priority or l2 is None or in_l2:
            return admitted or in_l2
        packed = packed if packed is not None else pack_or_none(value)
        return packed is not None and l2.put(key, packed, expires_at)

    def install_many(self, keys: list[str], values: list[bytes], costs: list[int]) -> list[Exception | None]:
        """:meth:`install` of each of ``keys`` with ``values`` (no expiry; ``costs`` L1's cost of each), in order:
        a batch of write-through values. Returns what each install raised, None for most."""
        if self.l2 is not None:
            self.l2.delete_many(keys)  # (install() deletes each before L1 admits it)
        stored = self.l1.insert_new(keys, values, costs)
        errors: list[Exception | None] = [None] * len(keys)
        for index in range(stored, len(keys)):
            try:
                self.install(keys[index], values[index], None, cost=costs[index])
            except Exception as error:
                errors[index] = error
        return errors

    def _demote(self, entries: Sequence[tuple[str, MemoryEntry]]) -> int:
        """Write entries evicted from L1 to L2 (not expired ones, nor those L2 already holds: the same value, by the
        module's invariant); returns how many."""
        l2 = self.l2
        if l2 is None or not entries:
            return 0
        now = self.l1.now()
        written = 0
        for key, entry in entries:
            if (entry.expires_at is not None and entry.expires_at <= now) or key in l2:
                continue
            packed = pack_or_none(entry.value)
            if packed is not None:
                written += l2.put(key, packed, entry.expires_at)
        return written

    def __len__(self) -> int:
        """Keys held locally, each once (expired entries not yet dropped included, as Redis' DBSIZE counts them)."""
        return len(self.l1) + (0 if self.l2 is None else len(self.l2) - len(self._in_both))

    def drop(self, key: str) -> bool:
        """Remove every local copy of ``key``; return whether there was a live one (an expired copy not yet
        reclaimed does not count: DEL of it answers 0, as redis-server's does)."""
        live = self.presence(key) is not None
        self.discard(key)
        return live

    def discard(self, key: str) -> None:
        """Remove every local copy of ``key`` (:meth:`drop` without looking whether there was one)."""
        self.l1.delete(key)
        if self.l2 is not None:
            self.l2.delete(key)

    def discard_many(self, keys: Sequence[str]) -> None:
        """:meth:`discard` each of ``keys``."""
        self.l1.delete_many(keys)
        if self.l2 is not None:
            self.l2.delete_many(keys)

    def drop_all(self) -> None:
        """Remove every local copy."""
        self.l1.clear()
        if self.l2 is not None:
            self.l2.clear()

    async def read_l2(self, key: str, *, count: bool) -> tuple[object, float | None, bool] | None:
        """The decoded value, expiry and whether it is verified (see DiskTier.distrust_recovered) of ``key`` in
        L2, or None (an undecodable value is deleted)."""
        if self.l2 is None:
            return None
        stored = await self.l2.get(key, count=count)
        if stored is None:
            return None
        try:
            return decode(unpack(stored.payload)), stored.expires_at, stored.verified
        except CorruptDataError as error:
            logger.warning("l2: dropping undecodable value of %r: %s", key, error)
            self.l2.delete(key)
            return None

    def current(self, key: str) -> tuple[object, float | None] | object:
        """The L1 value and expiry of ``key`` without counting a read, or MISSING when L1 has none."""
        entry = self.l1.peek(key)
        return MISSING if entry is None else (entry.value, entry.expires_at)

    def presence(self, key: str) -> Presence | None:
        """Whether a live local copy of ``key`` exists, and its expiry."""
        entry = self.l1.peek(key)
        if entry is not None:
            return Presence(entry.expires_at)
        return None if self.l2 is None else self.l2.presence(key)

    def set_expiry(self, key: str, expires_at: float | None) -> bool:
        """Give every local copy of ``key`` a new expiry; return whether there was one."""
        entry = self.l1.peek(key)
        if entry is not None:
            entry.expires_at = expires_at
        changed_l2 = self.l2 is not None and self.l2.set_expiry(key, expires_at)
        return entry is not None or changed_l2

    def fits_l2(self, key: str, packed: bytes | None) -> bool:
        """Whether the packed value (None: not encodable) fits in L2 at all."""
        return (
            packed is not None
            and self.l2 is not None
            and HEADER.size + len(key_bytes(key)) + len(packed) <= self.l2.capacity_bytes
        )

    async def settle(self) -> None:
        """Wait while too many bytes of L2 writes wait in memory (L2's back pressure)."""
        if self.l2 is not None:
            await self.l2.wait_for_room()

    @property
    def settled(self) -> bool:
        """Whether :meth:`settle` would return at once."""
        return self.l2 is None or self.l2.has_room

    def persist_l1(self) -> int:
        """Write every live, encodable L1 entry that L2 does not already hold to L2 (a graceful shutdown's flush);
        returns how many writes were issued (:meth:`DiskTier.settle` waits for them)."""
        return self._demote(self.l1.items())
