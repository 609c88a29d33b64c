"""L2 (local disk) and L3 (Redis) behind L1: the tiers that hold packed bytes instead of Python objects.

Reads look in L2, then L3; writes, deletes, expiry changes and clears go to every configured tier.
Values cross into these tiers only through :mod:`memories.optimization.cache.codec` (never pickle).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from memories.errors import CorruptDataError
from memories.optimization.cache.codec import UnencodableValue, decode, encode, pack, unpack
from memories.optimization.cache.disk_format import HEADER, key_bytes
from memories.optimization.cache.disk_tier import DiskTier
from memories.optimization.cache.keys import MISSING
from memories.optimization.cache.memory_tier import MemoryEntry
from memories.optimization.cache.stats import TierStats
from memories.optimization.cache.tier import Presence, StoredValue

if TYPE_CHECKING:
    from memories.optimization.cache.redis_tier import RedisTier

logger = logging.getLogger(__name__)


def pack_or_none(value: object) -> bytes | None:
    """The codec's packed bytes of ``value``, or None when the codec cannot encode it (it then stays in L1 only)."""
    try:
        return pack(encode(value))
    except UnencodableValue as error:
        logger.debug("value kept in L1 only: %s", error)
        return None


class LowerTiers:
    """The optional L2 and L3 of one cache; false when neither is configured.

    ``clock`` returns seconds, the clock of the expiry times.
    """

    def __init__(self, l2: DiskTier | None, l3: RedisTier | None, clock: Callable[[], float]) -> None:
        self.l2 = l2
        self.l3 = l3
        self._tiers: list[DiskTier | RedisTier] = [tier for tier in (l2, l3) if tier is not None]
        self._clock = clock

    def __bool__(self) -> bool:
        return bool(self._tiers)

    @property
    def ready(self) -> bool:
        """True once the L2 index is recovered (always True without L2)."""
        return self.l2 is None or self.l2.ready

    async def start(self) -> None:
        """Recover the L2 index (in a thread) and connect to L3."""
        if self.l2 is not None:
            await self.l2.recover()
        if self.l3 is not None:
            await self.l3.connect()

    async def close(self) -> None:
        """Release the Redis connection."""
        if self.l3 is not None:
            await self.l3.close()

    async def read(self, key: str, *, count: bool) -> tuple[object, float | None] | None:
        """The decoded value of ``key`` and its expiry time from the first tier that has it, else None.

        ``count`` says whether the read counts as a hit or miss in the tiers' statistics. An
        undecodable value is logged, deleted from its tier and treated as absent.
        """
        for tier in self._tiers:
            stored = await tier.get(key, count=count)
            if stored is not None:
                value = await self._decode(tier, key, stored)
                if value is not MISSING:
                    return value, stored.expires_at
        return None

    @staticmethod
    async def _decode(tier: DiskTier | RedisTier, key: str, stored: StoredValue) -> object:
        try:
            return decode(unpack(stored.payload))
        except CorruptDataError as error:
            logger.warning("%s: dropping undecodable value of %r: %s", tier.name, key, error)
            await tier.delete(key)
            return MISSING

    def fits(self, key: str, packed: bytes | None) -> bool:
        """Whether the packed value (None: not encodable) fits in L2 or L3 at all."""
        if packed is None:
            return False
        if self.l2 is not None and HEADER.size + len(key_bytes(key)) + len(packed) <= self.l2.capacity_bytes:
            return True
        return self.l3 is not None and len(packed) <= self.l3.capacity_bytes

    async def store(self, key: str, packed: bytes | None, expires_at: float | None, *, in_l1: bool) -> None:
        """Record a write: L3 gets the packed value (write-through); L2 keeps it only when L1 did not take it.

        ``packed`` None (not encodable) deletes any older copy instead, so a stale value is never served.
        """
        if self.l2 is not None:
            if in_l1 or packed is None:
                await self.l2.delete(key)
            else:
                await self.l2.put(key, packed, expires_at)
        if self.l3 is not None:
            if packed is None:
                await self.l3.delete(key)
            else:
                await self.l3.put(key, packed, expires_at)

    async def demote(self, entries: list[tuple[str, MemoryEntry]]) -> None:
        """Write entries evicted from L1 to L2 (skipping expired ones and keys L2 already holds)."""
        if self.l2 is None:
            return
        now = self._clock()
        for key, entry in entries:
            if (entry.expires_at is not None and entry.expires_at <= now) or await self.l2.presence(key):
                continue
            packed = pack_or_none(entry.value)
            if packed is not None:
                await self.l2.put(key, packed, entry.expires_at)

    async def forget_in_l2(self, key: str) -> None:
        """Delete L2's copy of ``key`` (a newer value went to L1 only)."""
        if self.l2 is not None:
            await self.l2.delete(key)

    async def delete(self, key: str) -> bool:
        """Delete ``key`` from every tier; return whether any had it."""
        deleted = False
        for tier in self._tiers:
            deleted = await tier.delete(key) or deleted
        return deleted

    async def presence(self, key: str) -> Presence | None:
        """Where ``key`` lives first (its expiry time), without counting a read; None when absent."""
        for tier in self._tiers:
            presence = await tier.presence(key)
            if presence is not None:
                return presence
        return None

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        """Set the expiry time of ``key`` in every tier that has it; return whether any had it."""
        found = False
        for tier in self._tiers:
            found = await tier.set_expiry(key, expires_at) or found
        return found

    async def clear(self) -> None:
        """Remove every entry (in L3, only keys under this cache's prefix)."""
        for tier in self._tiers:
            await tier.clear()

    def live_keys(self) -> set[str]:
        """Live keys of L2 (L3 is shared with other caches and not counted)."""
        return self.l2.live_keys() if self.l2 is not None else set()

    def stats(self) -> dict[str, TierStats]:
        """Counters per configured tier, by tier name."""
        return {tier.name: tier.stats() for tier in self._tiers}
