"""CacheManager: L1 in memory, L2 on local disk, L3 in Redis, behind one async API.

Data flow (documented choices; the consistency model is docs/consistency.md):

* ``get`` looks in L1, then L2, then L3, then calls ``compute_fn`` (or the ``loader``). A value found in L2 or L3
  is promoted to L1 (L2 keeps its copy, so demoting it later costs nothing). Concurrent misses of one key share
  one lookup and one computation — but a reader that arrives after a write of the key never joins a lookup that
  started before it.
* Without L3, ``set`` writes L1 (what L1 evicts moves to L2 in the same step) or, for values too large for L1,
  L2. With L3, L3 is the source of truth: a write removes the local copies, is sent to Redis, and once Redis has
  acknowledged it the value becomes the local copy (unless something newer happened meanwhile). Conditional writes
  (``condition``, :meth:`getset`) and :meth:`increment` run inside Redis, atomic across every agent.
* Read-your-writes: whatever reads, fills, promotions, demotions and Redis round trips are in flight, once a write
  returns no read on this manager returns an older value. Every operation that waits opens a fence on its key
  (:mod:`memories.optimization.cache.fences`) and installs what it brings back only if no write, delete or
  invalidation of the key happened meanwhile.
* Across agents (L3 with ``coherence: tracking``): Redis pushes an invalidation for every key of the prefix that
  another client changes, and the local copies go; when the invalidation stream may have gaps (a connection lost,
  no word from Redis for ``max_staleness``), every local copy goes.
* Values leave the process only through :mod:`memories.optimization.cache.codec` (bytes, str, JSON types, numpy
  arrays; never pickle). Other objects are cached in L1 only.
* A value too large for a tier skips that tier; :class:`ValueTooLarge` is raised only when it fits in no tier, or
  exceeds ``max_value_size``. A ``None`` result of ``compute_fn`` / ``loader`` is returned but not cached.
* Every tier honours TTLs against ``clock`` (default ``time.time``; L3 uses Redis' clock).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from memories.errors import CacheError, TierUnavailable, ValueTooLarge
from memories.optimization.cache.codec import UnencodableValue
from memories.optimization.cache.config import CacheSettings, parse_settings
from memories.optimization.cache.disk_tier import DiskTier
from memories.optimization.cache.key_guard import KeyGuard
from memories.optimization.cache.keys import MISSING, Key, MissingMarker, normalize_key
from memories.optimization.cache.local_copies import LocalCopies
from memories.optimization.cache.memory_tier import MemoryTier
from memories.optimization.cache.remote.settings import DEFAULT_PREFIX, Coherence, RemoteSettings
from memories.optimization.cache.remote.values import from_remote, to_remote
from memories.optimization.cache.sizing import estimate_size
from memories.optimization.cache.stats import CacheStats, RemoteStatus
from memories.optimization.cache.tier import Presence
from memories.optimization.cache.write_batch import BatchDone
from memories.optimization.cache.writes import Condition, LocalWrites, SharedWrites, WriteDone, Writes
from memories.units import Duration, Size, parse_duration

if TYPE_CHECKING:
    from memories.optimization.cache.remote.tier import RemoteTier

logger = logging.getLogger(__name__)
_monotonic = time.monotonic

Loader = Callable[[str], Awaitable[bytes | None]]
__all__ = ["CacheManager", "Condition", "Loader"]


class CacheManager:
    """A multi-level cache; see the module docstring for where values go.

    ``eviction_policy`` is one of "lru", "lfu", "s3fifo", "wtinylfu" (L1 and L2 each use one).

    Sizes are bytes or strings like ``"1GB"``; durations seconds or strings like ``"1h"``. ``l2_size`` without
    ``l2_path`` uses ``$XDG_CACHE_HOME/memories/cache-l2`` (or ``~/.cache/memories/cache-l2``). L3 comes from
    ``l3`` (typed settings: the agent), or from ``l3_size`` with ``l3_url`` or ``$MEMORIES_L3_URL`` (a standalone
    Redis); without either L3 is absent (logged once). Raises ConfigError for invalid arguments.
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
        l3: RemoteSettings | None = None,
        default_ttl: Duration | None = None,
        max_value_size: Size | None = None,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.time,
        l3_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.settings: CacheSettings = parse_settings(
            l1_size,
            l2_size,
            l3_size,
            eviction_policy,
            l2_path,
            l3_url,
            default_ttl,
            max_value_size,
            l3=l3,
            l3_prefix=l3_prefix,
        )
        self.loader = loader
        # A write of bytes with no ttl needs no check: no default TTL and no value size limit (settings are frozen).
        self._plain_writes = self.settings.default_ttl_seconds is None and self.settings.max_value_bytes is None
        #: Called with each key read through get/get_nowait/lookup_nowait (e.g. a prefetcher's history).
        self.access_observer: Callable[[str], None] | None = None
        self._clock = clock
        self._l1 = MemoryTier(self.settings.l1_bytes, self.settings.policy_factory(), clock)
        l2: DiskTier | None = None
        if self.settings.l2_bytes is not None and self.settings.l2_path is not None:
            l2 = DiskTier(self.settings.l2_path, self.settings.l2_bytes, self.settings.policy_factory(), clock)
        self._local = LocalCopies(self._l1, l2)
        remote = self.settings.remote
        tracking = remote is not None and remote.coherence is Coherence.TRACKING
        self._guard = KeyGuard(self._local, remember_absence=tracking)
        self._fences = self._guard.fences
        self._flights = self._guard.flights
        self._absent = self._guard.absent
        self._l3: RemoteTier | None = None
        self._writes: Writes = LocalWrites(self._guard, self._check_fits_somewhere)
        if remote is not None:
            from memories.optimization.cache.remote.tier import RemoteTier  # loads only when L3 is used

            self._l3 = RemoteTier(
                remote, clock, on_invalidate=self._guard.invalidated, on_coherence_lost=self._guard.drop_all
            )
            self._guard.trusted = self._l3.client.trusted  # asked before every install: no call in between
            self._writes = SharedWrites(self._guard, self._l3, self._check_fits_somewhere)
        self._has_lower_tiers = l2 is not None or self._l3 is not None  # read on every synchronous fast-path call
        #: With coherence tracking, every read of a local copy first compares the clock with the client's
        #: trusted_until (see remote.client): copies are never served past the bound, even after a stalled loop.
        self._trust = self._l3.client if self._l3 is not None and tracking else None
        self._hits = 0
        self._misses = 0
        #: Recovered L2 entries confirmed against L3 ("kept") or found changed there ("dropped").
        self._revalidations = {"kept": 0, "dropped": 0}
        self._started = False
        self._starting: asyncio.Task[None] | None = None
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover the L2 index (in a thread) and connect to L3; idempotent, and concurrent callers share one start.

        Called by the first async operation if not called before. Raises CacheError after close(). With L3 and
        coherence tracking, what L2 recovered may have changed in Redis while nobody listened: each entry is served
        only after L3 confirms it (a digest of the value) when first read, and dropped otherwise.
        """
        if self._closed:
            raise CacheError("the cache manager is closed")
        if self._started:
            return
        if not self._has_lower_tiers:
            self._started = True  # nothing to recover or connect: no reason to suspend
            return
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start_tiers())
        await asyncio.shield(self._starting)
        self._started = True

    async def _start_tiers(self) -> None:
        l2 = self._local.l2
        if l2 is not None:
            await l2.recover()
        if self._l3 is not None:
            if self._l3.client.tracking and l2 is not None and len(l2):
                count = l2.distrust_recovered()
                logger.info("l2: %d recovered entries are confirmed against Redis when first read", count)
            await self._l3.start()

    async def close(self, timeout_seconds: float | None = None) -> None:
        """Write what only L1 holds to L2, let L2's writes land (up to ``timeout_seconds``), release the Redis
        connections. Further async operations raise CacheError."""
        if self._closed:
            return
        self._closed = True
        l2 = self._local.l2
        if l2 is not None and l2.ready:
            written = self._local.persist_l1()
            logger.info("l2: writing %d entries held only in L1 before stopping", written)
        if self._l3 is not None:
            await self._l3.close()
        if l2 is not None:
            await l2.close(timeout_seconds)

    async def settle(self) -> None:
        """Wait until every L2 file operation issued so far has reached the disk (or failed)."""
        if self._local.l2 is not None:
            await self._local.l2.settle()

    @property
    def writes_wait_for_l3(self) -> bool:
        """True when a write is acknowledged only once L3 has it (a cache with L3): :meth:`set_nowait` declines
        every write, :meth:`set_then` and :meth:`set_many_then` are the way to start one without suspending."""
        return self._l3 is not None

    @property
    def ready(self) -> bool:
        """True once the L2 index is recovered (always True without L2)."""
        return self._local.l2 is None or self._local.l2.ready

    # --- the synchronous fast path (L1 only) ---------------------------------------------------

    def _check_trust(self) -> None:
        """With tracking: drop every local copy when they can no longer be trusted (cheap when they can)."""
        trust = self._trust
        if trust is not None and _monotonic() > trust.trusted_until:
            trust.reconsider()

    def get_nowait(self, key: Key) -> object:
        """Return the value of ``key`` from L1, or :attr:`MISSING`; counts a hit only on success."""
        name = normalize_key(key)
        self._check_trust()
        entry = self._l1.lookup(name, count_miss=False)
        if entry is None:
            return MISSING  # the caller goes on with get(), which tells the observer
        self._hits += 1
        if self.access_observer is not None:
            self.access_observer(name)
        return entry.value

    def lookup_nowait(self, key: Key) -> object:
        """Like :meth:`get_nowait`, but a miss is final when nothing beyond L1 could have the value.

        An L1 miss is final (counted as :meth:`get` counts it, None returned) when there is no ``loader``, the
        manager is open, and no lower tier can have the key: none is configured, L2 alone does not hold it, or L3
        said it is absent and no write or invalidation of it came since (with coherence tracking).
        :attr:`MISSING` means: call :meth:`get` to look further.
        """
        name = key if type(key) is str else normalize_key(key)
        trust = self._trust
        if trust is not None and _monotonic() > trust.trusted_until:  # _check_trust(), inlined: the hot path
            trust.reconsider()
        entry = self._l1.lookup(name, count_miss=False)
        if (
            entry is None
            and (self._has_lower_tiers or self.loader is not None or self._closed)
            and not self._known_absent(name)
        ):
            return MISSING
        if self.access_observer is not None:
            self.access_observer(name)
        if entry is not None:
            self._hits += 1
            return entry.value
        self._l1.counters.misses += 1
        self._misses += 1
        return None

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
        self._fences.supersede(name)
        if not self._l1.store(name, value, expires_at):
            self._check_fits_somewhere(name, self._l1.cost(name, value), None, None)  # raises ValueTooLarge
        return True

    # --- reads -------------------------------------------------------------------------------

    async def get(self, key: Key, compute_fn: Callable[[], Any] | None = None, ttl: Duration | None = None) -> Any:
        """Return the cached value of ``key``, computing it on a miss.

        ``compute_fn`` (no arguments, sync or async) or else the manager's ``loader(key)`` is awaited once for all
        concurrent misses of the key; its exception reaches every waiter and nothing is cached. The computed value
        is stored with ``ttl`` (default: ``default_ttl``), unless the key was written meanwhile. Returns None on a
        miss with no source. Raises TierUnavailable when only L3 could answer and it does not (with a
        ``compute_fn`` or loader the value is computed instead, and not stored).
        """
        name = normalize_key(key)
        if self.access_observer is not None:
            self.access_observer(name)
        self._check_trust()
        entry = self._l1.lookup(name)
        if entry is not None:
            self._hits += 1
            return entry.value
        if compute_fn is None and self._known_absent(name):
            self._misses += 1
            return None
        await self.start()
        value, hit = (await self._flights.run(name, lambda: self._load(name, compute_fn, ttl)))[0]
        self._hits += hit
        self._misses += not hit
        return value

    async def _confirm_recovered(self, key: str, value: object) -> tuple[bool, float | None]:
        """Compare a recovered L2 entry with L3 (a digest, not the value): (True, its current expiry) when L3 holds
        the same bytes (the entry is kept), else (False, None) and the entry is dropped."""
        assert self._l3 is not None and self._local.l2 is not None
        l2 = self._local.l2
        try:
            digest, expires_at = await self._l3.digest(key)
        except TierUnavailable:
            digest = expires_at = None
        try:
            expected = hashlib.sha1(to_remote(value), usedforsecurity=False).hexdigest()
        except UnencodableValue:
            expected = None
        if digest is not None and digest == expected:
            self._revalidations["kept"] += 1
            l2.confirm(key, expires_at)
            return True, expires_at
        self._revalidations["dropped"] += 1
        l2.delete(key)
        return False, None

    def _known_absent(self, key: str) -> bool:
        """Whether ``key`` is absent from every tier, known without waiting (the caller found it absent in L1)."""
        if self.loader is not None or self._closed:
            return False
        absent = self._absent
        if absent is not None:
            return key in absent
        l2 = self._local.l2
        return self._l3 is None and l2 is not None and l2.ready and key not in l2

    async def _load(self, key: str, compute_fn: Callable[[], Any] | None, ttl: Duration | None) -> tuple[object, bool]:
        has_source = compute_fn is not None or self.loader is not None
        while True:
            with self._fences.watch(key) as fence:
                self._check_trust()
                entry = self._l1.lookup(key, count_miss=False)  # written since the caller looked?
                if entry is not None:
                    return entry.value, True
                try:
                    found = await self._read_below_l1(key, count=True)
                except TierUnavailable as error:
                    if not has_source:
                        raise
                    logger.debug("computing %r without L3: %s", key, error)
                    return await self._compute(key, compute_fn), False
                if found is not None:
                    value, expires_at, from_l2 = found
                    if self._guard.may_install(fence):
                        self._local.install(key, value, expires_at, in_l2=from_l2)
                        await self._local.settle()
                    return value, True
                if fence.superseded and self._l3 is None:
                    continue  # written while L2 was read: the value may have moved into L1, look again
                if self._l3 is not None and self._guard.may_install(fence):
                    self._guard.remember_absent(key)
                if not has_source:
                    return None, False
                value = await self._compute(key, compute_fn)
                if value is not None and not fence.superseded:
                    await self._store_computed(key, value, ttl)
                return value, False

    async def _compute(self, key: str, compute_fn: Callable[[], Any] | None) -> object:
        value = compute_fn() if compute_fn is not None else self.loader(key) if self.loader is not None else None
        if inspect.isawaitable(value):
            value = await value
        return value

    async def _read_below_l1(self, key: str, *, count: bool) -> tuple[object, float | None, bool] | None:
        """The value, expiry and whether it came from L2, from L2 then L3; None when neither has it. An L2 entry
        recovered at start is served only once L3 confirms it still holds the same bytes."""
        found = await self._local.read_l2(key, count=count)
        if found is not None:
            value, expires_at, verified = found
            if verified or self._l3 is None:
                return value, expires_at, True
            kept, expires_at = await self._confirm_recovered(key, value)
            if kept:
                return value, expires_at, True
        if self._l3 is not None:
            stored = await self._l3.get(key, count=count)
            if stored is not None:
                return from_remote(stored.payload), stored.expires_at, False
        return None

    # --- writes ------------------------------------------------------------------------------

    async def set(
        self,
        key: Key,
        value: object,
        ttl: Duration | None = None,
        *,
        condition: Condition | None = None,
        keep_ttl: bool = False,
    ) -> bool:
        """Store ``value`` (bytes-like values as bytes) with ``ttl`` (default: ``default_ttl``); return whether it
        was stored (always, unless ``condition`` said otherwise).

        ``condition`` "absent"/"present" stores only if the key does not / does exist (Redis' NX/XX), ``keep_ttl``
        keeps the key's current expiry. Raises ValueTooLarge when the value exceeds ``max_value_size`` or fits in no
        tier, ConfigError for a bad ttl, TierUnavailable when L3 does not answer (then the outcome is unknown).
        """
        if condition is not None or keep_ttl:
            return (await self.getset(key, value, ttl, condition=condition, keep_ttl=keep_ttl))[0]
        name, value, expires_at = self._checked(key, value, ttl)
        await self.start()
        await self._writes.set(name, value, expires_at)
        return True

    def set_then(self, key: Key, value: bytes, done: WriteDone) -> bool:
        """Start :meth:`set` of bytes (no ttl: ``default_ttl``) without suspending, for a write that waits for L3.

        Returns True when it started: ``done`` is then called once, with None when the write is acknowledged (as
        :meth:`set` returns) or the exception :meth:`set` would raise (TierUnavailable: outcome unknown). Returns
        False, doing nothing, when it cannot start at once (no L3, not started or closed, L3 not connected, L2's
        back pressure): call :meth:`set`. Raises like :meth:`set` for an invalid key or a value too large.
        """
        if not self._started or self._closed:
            return False
        if self._plain_writes:  # nothing to check (see set_nowait)
            name, expires_at = normalize_key(key), None
        else:
            name, _value, expires_at = self._checked(key, value, None)
        return self._writes.set_then(name, value, expires_at, done)

    def set_many_then(self, keys: list[str], values: list[bytes], done: BatchDone) -> bool:
        """:meth:`set_then` of each ``keys[i]``/``values[i]`` (str keys, bytes values), in order, together: the SETs of
        one pipeline leave for L3 in one write and share one batch state (:mod:`.write_batch`).

        Returns True when all started: ``done`` is then called once, with one outcome per pair in order (None when
        acknowledged, else the exception :meth:`set` would raise). Returns False, doing nothing, when any cannot
        start at once or needs a check (as :meth:`set_then`, and also with a default ttl or a value size limit, or
        a value too large for every tier), or when a key repeats (in a Cluster a redirected SET is sent again later,
        possibly after a later SET of its key): call :meth:`set` of each. When it raises (no memory left),
        ``done`` is never called and no fence of the batch stays open; some of its SETs may have reached Redis, as
        when a connection drops (their outcome is unknown), and their keys have no local copy.
        """
        if (
            not self._started
            or self._closed
            or not self._plain_writes
            or (len(keys) > 1 and len(set(keys)) < len(keys))
        ):
            return False
        return self._writes.set_many_then(keys, values, done)

    def write_to_l3_now(self) -> None:
        """Send what this turn of the event loop queued for L3 (e.g. by :meth:`set_many_then`) now rather than at
        the end of the turn: for a caller that starts writes from a callback at the end of a turn already."""
        if self._l3 is not None:
            self._l3.client.write_now()

    async def getset(
        self,
        key: Key,
        value: object,
        ttl: Duration | None = None,
        *,
        condition: Condition | None = None,
        keep_ttl: bool = False,
    ) -> tuple[bool, object]:
        """Like :meth:`set`, atomically: return (whether it stored, the previous value or None) — Redis'
        ``SET ... GET``. With L3 Redis executes it; without, it happens in one step of this manager."""
        name, value, expires_at = self._checked(key, value, ttl)
        await self.start()
        return await self._writes.getset(name, value, expires_at, condition, keep_ttl)

    async def increment(self, key: Key, amount: int = 1) -> int:
        """Add ``amount`` to the integer stored under ``key`` (absent counts as 0), keeping its expiry; return the
        new number (Redis' INCRBY, atomic across agents with L3). Raises WrongValueType when the value is not a
        64-bit integer or the result would overflow, TierUnavailable when L3 does not answer."""
        name = normalize_key(key)
        await self.start()
        return await self._writes.increment(name, amount)

    async def _store_computed(self, key: str, value: object, ttl: Duration | None) -> None:
        """Store what compute_fn or the loader produced (the caller checked that the key was not written since)."""
        name, value, expires_at = self._checked(key, value, ttl)
        await self._writes.store_computed(name, value, expires_at)

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

    def _check_fits_somewhere(self, key: str, l1_cost: int, packed: bytes | None, remote: bytes | None) -> None:
        if l1_cost <= self._l1.capacity_bytes or self._local.fits_l2(key, packed):
            return
        if remote is not None and self._l3 is not None and len(remote) <= self._l3.capacity_bytes:
            return
        raise ValueTooLarge(f"value of {key!r} fits in no cache tier")

    def _expires_at(self, ttl: Duration | None) -> float | None:
        seconds = (
            self.settings.default_ttl_seconds if ttl is None else parse_duration(ttl, field="ttl", allow_zero=False)
        )
        return None if seconds is None else self._clock() + seconds

    async def prefetch(self, key: Key, value: object = None, ttl: Duration | None = None) -> bool:
        """Admit ``key`` into L1 at low priority; return whether it was admitted.

        With ``value`` None the value comes from L2/L3, else from the ``loader``. The policy inserts it where it is
        evicted first (LRU: cold end; LFU: frequency 0; S3-FIFO: small queue; W-TinyLFU: cold end of probation, not
        counted by the sketch), and room is made only by evicting entries never read since they entered L1, so a
        prefetch never displaces anything read more recently or more often. Not counted as a hit or a miss.
        Returns False when already in L1, not found, no room, or the key was written meanwhile. With L3, a value
        that did not come from L2/L3 is stored there only if the key is absent (like a computed value).
        """
        name = normalize_key(key)
        await self.start()
        self._check_trust()
        if self._l1.peek(name) is not None:
            return False
        with self._fences.watch(name) as fence:
            expires_at = self._expires_at(ttl)
            from_l2 = from_lower_tier = False
            if value is None:
                try:
                    found = await self._read_below_l1(name, count=False)
                except TierUnavailable:
                    return False
                if found is not None:
                    value, expires_at, from_l2 = found
                    from_lower_tier = True
                elif self.loader is not None:
                    value = await self.loader(name)
            if value is None or fence.superseded:
                return False
            if isinstance(value, bytearray | memoryview):
                value = bytes(value)
            if not from_lower_tier and self._l3 is not None:
                await self._store_computed(name, value, ttl)
                return self._l1.peek(name) is not None
            if not self._guard.may_install(fence):
                return False
            if not from_lower_tier:
                self._guard.supersede(name)  # a value from outside: a write as far as other waiting reads are concerned
            admitted = self._local.install(name, value, expires_at, low_priority=True, in_l2=from_l2)
        return admitted and self._l1.peek(name) is not None

    async def delete(self, key: Key) -> bool:
        """Remove ``key`` from every tier; return whether any tier had it. Raises TierUnavailable."""
        name = normalize_key(key)
        await self.start()
        return await self._writes.delete(name)

    async def exists(self, key: Key) -> bool:
        """Return whether a live value of ``key`` is in any tier (not counted as a lookup)."""
        return await self._presence(normalize_key(key)) is not None

    async def _presence(self, key: str) -> Presence | None:
        await self.start()
        self._check_trust()
        if self._absent is not None and key in self._absent:
            return None
        presence = self._local.presence(key)
        if presence is not None or self._l3 is None:
            return presence
        return await self._l3.ttl(key)

    async def clear(self) -> None:
        """Remove every entry from every tier (in L3, only keys under this cache's prefix)."""
        await self.start()
        self._guard.drop_all()
        if self._l3 is not None:
            await self._l3.clear()

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
        return await self._writes.set_expiry(key, expires_at)

    async def get_ttl(self, key: Key) -> float | None:
        """Return the seconds until ``key`` expires (None: never); raises KeyError when absent."""
        name = normalize_key(key)
        presence = await self._presence(name)
        if presence is None:
            raise KeyError(name)
        if presence.expires_at is None:
            return None
        return max(0.0, presence.expires_at - self._clock())

    # --- sizes and statistics --------------------------------------------------------------

    def __len__(self) -> int:
        """Keys held in L1 and L2, each once, in O(1) (L3 is shared and not counted; entries expired but not yet
        dropped are counted, as Redis' DBSIZE counts them)."""
        return len(self._local)

    def degradations(self) -> list[str]:
        """What does not work as configured, one sentence each (empty when every tier works): L2 switched off,
        L3 unreachable, local copies of L3 keys not trusted."""
        found = []
        l2 = self._local.l2
        if l2 is not None and l2.unavailable is not None:
            found.append(f"l2 off: {l2.unavailable}")
        remote = self.remote_status()
        if remote is not None:
            if remote.last_error is not None:
                found.append(f"l3 unreachable: {remote.last_error}")
            elif not remote.trusted:
                found.append("l3: local copies not trusted (waiting for every node to confirm)")
        return found

    def remote_status(self) -> RemoteStatus | None:
        """L3's connections and coherence (None without L3)."""
        return None if self._l3 is None else self._l3.status(self._guard.invalidations_applied, self._revalidations)

    def stats(self) -> CacheStats:
        """Return overall and per-tier counters (tiers "l1", "l2", "l3" when present)."""
        tiers = {self._l1.name: self._l1.stats()}
        if self._local.l2 is not None:
            tiers[self._local.l2.name] = self._local.l2.stats()
        if self._l3 is not None:
            tiers[self._l3.name] = self._l3.stats()
        return CacheStats(self._hits, self._misses, tiers)
