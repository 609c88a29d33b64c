"""CacheManager: L1 in memory, L2 on local disk, L3 in Redis, behind one async API.

Data flow (documented choices):

* ``get`` looks in L1, then L2, then L3, then calls ``compute_fn`` (or the ``loader``). A value
  found in L2 or L3 is promoted to L1 (L2 keeps its copy, so demoting it later costs nothing).
  Concurrent misses of one key share one lookup and one computation.
* ``set`` writes L1 and, when configured, L3 (write-through to the shared tier); any older L2
  copy is deleted. L2 is fed by L1's evictions (demotion) and by values too large for L1.
  L2's own evictions drop the entry (L3, when present, still has what was set).
* Values leave the process only through :mod:`memories.optimization.cache.codec` (bytes, str,
  JSON types, numpy arrays; never pickle). Other objects are cached in L1 only.
* A value too large for a tier skips that tier; :class:`ValueTooLarge` is raised only when it fits
  in no tier, or exceeds ``max_value_size``.
* A ``None`` result of ``compute_fn`` / ``loader`` is returned but not cached (``get`` returns None
  for a miss too).
* Every tier honours TTLs against ``clock`` (default ``time.time``; L3 uses Redis' clock).
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from memories.errors import CacheError, ValueTooLarge
from memories.optimization.cache.config import DEFAULT_PREFIX, CacheSettings, parse_settings
from memories.optimization.cache.disk_tier import DiskTier
from memories.optimization.cache.keys import MISSING, Key, MissingMarker, normalize_key
from memories.optimization.cache.lower_tiers import LowerTiers, pack_or_none
from memories.optimization.cache.memory_tier import MemoryTier
from memories.optimization.cache.single_flight import SingleFlight
from memories.optimization.cache.sizing import estimate_size
from memories.optimization.cache.stats import CacheStats
from memories.optimization.cache.tier import Presence

if TYPE_CHECKING:
    from memories.optimization.cache.redis_tier import RedisTier
from memories.units import Duration, Size, parse_duration

logger = logging.getLogger(__name__)

Loader = Callable[[str], Awaitable[bytes | None]]


class CacheManager:
    """A multi-level cache; see the module docstring for where values go.

    ``eviction_policy`` is one of "lru", "lfu", "s3fifo", "wtinylfu" (L1 and L2 each use one).

    Sizes are bytes or strings like ``"1GB"``; durations seconds or strings like ``"1h"``.
    ``l2_size`` without ``l2_path`` uses ``$XDG_CACHE_HOME/memories/cache-l2`` (or
    ``~/.cache/memories/cache-l2``); ``l3_size`` without ``l3_url`` uses ``$MEMORIES_L3_URL``, and
    without either L3 is absent (logged once). Raises ConfigError for invalid arguments.
    """

    MISSING: ClassVar[MissingMarker] = MISSING

    def __init__(
        self,
        l1_size: Size = "256MB",
        l2_size: Size | None = None,
        l3_size: Size | None = None,
        eviction_policy: str = "lru",
        *,
        l2_path: str | os.PathLike[str] | None = None,
        l3_url: str | None = None,
        default_ttl: Duration | None = None,
        max_value_size: Size | None = None,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.time,
        l3_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.settings: CacheSettings = parse_settings(
            l1_size, l2_size, l3_size, eviction_policy, l2_path, l3_url, default_ttl, max_value_size
        )
        self.loader = loader
        # A write of bytes with no ttl needs no check: no default TTL and no value size limit (settings are frozen).
        self._plain_writes = self.settings.default_ttl_seconds is None and self.settings.max_value_bytes is None
        #: Called with each key read through get/get_nowait/lookup_nowait (e.g. a prefetcher's history).
        self.access_observer: Callable[[str], None] | None = None
        self._clock = clock
        self._l1 = MemoryTier(self.settings.l1_bytes, self.settings.policy_factory(), clock)
        l2: DiskTier | None = None
        l3: RedisTier | None = None
        if self.settings.l2_bytes is not None and self.settings.l2_path is not None:
            l2 = DiskTier(self.settings.l2_path, self.settings.l2_bytes, self.settings.policy_factory(), clock)
        if self.settings.l3_bytes is not None and self.settings.l3_url is not None:
            from memories.optimization.cache.redis_tier import RedisTier  # redis loads only when L3 is used

            l3 = RedisTier(self.settings.l3_url, self.settings.l3_bytes, clock, prefix=l3_prefix)
        self._lower = LowerTiers(l2, l3, clock)
        self._has_lower_tiers = bool(self._lower)  # read on every synchronous fast-path call
        self._flights: SingleFlight[tuple[object, bool]] = SingleFlight()
        self._hits = 0
        self._misses = 0
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Recover the L2 index (in a thread) and connect to L3; idempotent.

        Called by the first async operation if not called before. Raises CacheError after close().
        """
        if self._closed:
            raise CacheError("the cache manager is closed")
        if self._started:
            return
        await self._lower.start()
        self._started = True

    async def close(self) -> None:
        """Release the Redis connection; further async operations raise CacheError."""
        self._closed = True
        await self._lower.close()

    @property
    def ready(self) -> bool:
        """True once the L2 index is recovered (always True without L2)."""
        return self._lower.ready

    def get_nowait(self, key: Key) -> object:
        """Return the value of ``key`` from L1, or :attr:`MISSING`; counts a hit only on success."""
        name = normalize_key(key)
        entry = self._l1.lookup(name, count_miss=False)
        if entry is None:
            return MISSING  # the caller goes on with get(), which tells the observer
        self._hits += 1
        if self.access_observer is not None:
            self.access_observer(name)
        return entry.value

    def lookup_nowait(self, key: Key) -> object:
        """Like :meth:`get_nowait`, but a miss is final when nothing beyond L1 could have the value.

        With no L2, L3 or ``loader`` (and the manager open) an L1 miss is counted as :meth:`get`
        counts it and None is returned. :attr:`MISSING` means: call :meth:`get` to look further.
        """
        name = key if type(key) is str else normalize_key(key)
        entry = self._l1.lookup(name, count_miss=False)
        if entry is None and (self._has_lower_tiers or self.loader is not None or self._closed):
            return MISSING
        if self.access_observer is not None:
            self.access_observer(name)
        if entry is not None:
            self._hits += 1
            return entry.value
        self._l1.counters.misses += 1
        self._misses += 1
        return None

    async def get(self, key: Key, compute_fn: Callable[[], Any] | None = None, ttl: Duration | None = None) -> Any:
        """Return the cached value of ``key``, computing it on a miss.

        ``compute_fn`` (no arguments, sync or async) or else the manager's ``loader(key)`` is
        awaited once for all concurrent misses of the key; its exception reaches every waiter and
        nothing is cached. The computed value is stored with ``ttl`` (default: ``default_ttl``).
        Returns None on a miss with no source.
        """
        name = normalize_key(key)
        if self.access_observer is not None:
            self.access_observer(name)
        entry = self._l1.lookup(name)
        if entry is not None:
            self._hits += 1
            return entry.value
        await self.start()
        value, hit = (await self._flights.run(name, lambda: self._load(name, compute_fn, ttl)))[0]
        self._hits += hit
        self._misses += not hit
        return value

    async def _load(self, key: str, compute_fn: Callable[[], Any] | None, ttl: Duration | None) -> tuple[object, bool]:
        found = await self._lower.read(key, count=True)
        if found is not None:
            value, expires_at = found
            await self._admit(key, value, expires_at, low_priority=False)
            return value, True
        if compute_fn is not None:
            value = compute_fn()
        elif self.loader is not None:
            value = self.loader(key)
        else:
            return None, False
        if inspect.isawaitable(value):
            value = await value
        if value is not None:
            await self.set(key, value, ttl)
        return value, False

    async def set(self, key: Key, value: object, ttl: Duration | None = None) -> None:
        """Store ``value`` (bytes-like values as bytes) with ``ttl`` (default: ``default_ttl``).

        Raises ValueTooLarge when the value exceeds ``max_value_size`` or fits in no tier,
        ConfigError for a bad ttl.
        """
        name, value, expires_at = self._checked(key, value, ttl)
        await self.start()
        packed = pack_or_none(value) if self._has_lower_tiers else None
        cost = self._l1.cost(name, value)
        self._check_fits_somewhere(name, cost, packed)
        in_l1 = await self._admit(name, value, expires_at, low_priority=False, cost=cost)
        await self._lower.store(name, packed, expires_at, in_l1=in_l1)

    def set_nowait(self, key: Key, value: object, ttl: Duration | None = None) -> bool:
        """Do :meth:`set` without suspending when only L1 is configured; return whether it did.

        Returns False, storing nothing, when L2 or L3 is configured or the manager is closed (call
        :meth:`set` then). Otherwise stores like :meth:`set` (what L1 evicts is dropped) and raises
        the same errors: ValueTooLarge, ConfigError for a bad ttl.
        """
        if self._has_lower_tiers or self._closed:
            return False
        if type(value) is bytes and ttl is None and self._plain_writes:  # the sidecar's SET: nothing to check
            name, expires_at = (key if type(key) is str else normalize_key(key)), None
        else:
            name, value, expires_at = self._checked(key, value, ttl)
        self._started = True  # without L2 or L3, start() has nothing to do
        if not self._l1.store(name, value, expires_at):
            self._check_fits_somewhere(name, self._l1.cost(name, value), None)  # raises ValueTooLarge
        return True

    def _checked(self, key: Key, value: object, ttl: Duration | None) -> tuple[str, object, float | None]:
        """The normalized key, value (bytes-like as bytes) and expiry time of a write; raises like :meth:`set`."""
        name = normalize_key(key)
        if type(value) is not bytes and isinstance(value, bytearray | memoryview):
            value = bytes(value)
        expires_at = None if ttl is None and self.settings.default_ttl_seconds is None else self._expires_at(ttl)
        limit = self.settings.max_value_bytes
        if limit is not None and estimate_size(value) > limit:
            raise ValueTooLarge(f"value of {name!r} exceeds max_value_size ({limit} bytes)")
        return name, value, expires_at

    def _check_fits_somewhere(self, key: str, l1_cost: int, packed: bytes | None) -> None:
        if l1_cost > self._l1.capacity_bytes and not self._lower.fits(key, packed):
            raise ValueTooLarge(f"value of {key!r} fits in no cache tier")

    def _expires_at(self, ttl: Duration | None) -> float | None:
        seconds = (
            self.settings.default_ttl_seconds if ttl is None else parse_duration(ttl, field="ttl", allow_zero=False)
        )
        return None if seconds is None else self._clock() + seconds

    async def _admit(
        self, key: str, value: object, expires_at: float | None, *, low_priority: bool, cost: int | None = None
    ) -> bool:
        """Put into L1 and demote what it evicts; returns whether L1 took the value."""
        try:
            evicted = self._l1.put(key, value, expires_at, low_priority=low_priority, size=cost)
        except ValueTooLarge:
            self._l1.delete(key)
            return False
        if evicted.entries:
            await self._lower.demote(evicted.entries)
        return evicted.admitted

    async def prefetch(self, key: Key, value: object = None, ttl: Duration | None = None) -> bool:
        """Admit ``key`` into L1 at low priority; return whether it was admitted.

        With ``value`` None the value comes from L2/L3, else from the ``loader``. The policy
        inserts it where it is evicted first (LRU: cold end; LFU: frequency 0; S3-FIFO: small
        queue; W-TinyLFU: cold end of probation, not counted by the sketch), and room is made only by evicting entries never read since they entered L1, so a
        prefetch never displaces anything read more recently or more often. Not counted as a hit
        or a miss. Returns False when already in L1, not found, or no room.
        """
        name = normalize_key(key)
        await self.start()
        if self._l1.peek(name) is not None:
            return False
        expires_at = self._expires_at(ttl)
        from_lower_tier = False
        if value is None:
            found = await self._lower.read(name, count=False)
            if found is not None:
                (value, expires_at), from_lower_tier = found, True
            elif self.loader is not None:
                value = await self.loader(name)
        if value is None:
            return False
        if isinstance(value, bytearray | memoryview):
            value = bytes(value)
        admitted = await self._admit(name, value, expires_at, low_priority=True)
        if admitted and not from_lower_tier:
            await self._lower.forget_in_l2(name)  # an older L2 copy must not be served after a demotion
        return admitted

    async def delete(self, key: Key) -> bool:
        """Remove ``key`` from every tier; return whether any tier had it."""
        name = normalize_key(key)
        await self.start()
        deleted = self._l1.delete(name)
        return await self._lower.delete(name) or deleted

    async def exists(self, key: Key) -> bool:
        """Return whether a live value of ``key`` is in any tier (not counted as a lookup)."""
        return await self._presence(normalize_key(key)) is not None

    async def _presence(self, key: str) -> Presence | None:
        await self.start()
        entry = self._l1.peek(key)
        if entry is not None:
            return Presence(entry.expires_at)
        return await self._lower.presence(key)

    async def clear(self) -> None:
        """Remove every entry from every tier (in L3, only keys under this cache's prefix)."""
        await self.start()
        self._l1.clear()
        await self._lower.clear()

    async def expire(self, key: Key, ttl: Duration) -> bool:
        """Make ``key`` expire ``ttl`` from now in every tier (0 deletes it); return whether it exists."""
        name = normalize_key(key)
        seconds = parse_duration(ttl, field="ttl")
        if seconds == 0:
            return await self.delete(name)
        return await self._set_expiry(name, self._clock() + seconds)

    async def persist(self, key: Key) -> bool:
        """Remove ``key``'s expiry; True only if it exists and had one (like Redis PERSIST)."""
        name = normalize_key(key)
        presence = await self._presence(name)
        if presence is None or presence.expires_at is None:
            return False
        return await self._set_expiry(name, None)

    async def _set_expiry(self, key: str, expires_at: float | None) -> bool:
        await self.start()
        entry = self._l1.peek(key)
        if entry is not None:
            entry.expires_at = expires_at
        return await self._lower.set_expiry(key, expires_at) or entry is not None

    async def get_ttl(self, key: Key) -> float | None:
        """Return the seconds until ``key`` expires (None: never); raises KeyError when absent."""
        name = normalize_key(key)
        presence = await self._presence(name)
        if presence is None:
            raise KeyError(name)
        if presence.expires_at is None:
            return None
        return max(0.0, presence.expires_at - self._clock())

    def __len__(self) -> int:
        """Distinct live keys in L1 and L2 (L3 is shared and not counted)."""
        return len(set(self._l1.keys()) | self._lower.live_keys())

    def stats(self) -> CacheStats:
        """Return overall and per-tier counters (tiers "l1", "l2", "l3" when present)."""
        return CacheStats(self._hits, self._misses, {self._l1.name: self._l1.stats(), **self._lower.stats()})
