"""L2: packed values in files on local disk, surviving restarts.

One file per entry (layout in :mod:`memories.optimization.cache.disk_format`, file operations in
:mod:`memories.optimization.cache.disk_io`). The index (key → file size, expiry) lives in memory and is rebuilt by
:meth:`DiskTier.recover`, which scans the directory and deletes malformed, truncated or expired entries.

Order: every mutation (:meth:`DiskTier.put`, :meth:`DiskTier.delete`, :meth:`DiskTier.set_expiry`,
:meth:`DiskTier.clear`) changes the index at once, when it is called, and hands its file operation to one writer
thread, which applies them in that same order. Until a write has landed its bytes stay in memory and reads are
served from there, so a read issued after a write sees it, and no later file operation can be overtaken by an
earlier one: an older value can never reappear. ``pending_limit_bytes`` bounds those in-memory bytes
(:meth:`DiskTier.wait_for_room`).

A full checksum is verified on every read from a file; a corrupt entry is deleted and reported as a miss, never
served. ``capacity_bytes`` bounds the sum of the entry files' sizes (bytes); victims' files are unlinked before the
write that needed their room, so the directory never holds more.

One directory belongs to one process at a time (a restart reopens it after the previous process stopped).

When the directory cannot be used (missing and not creatable, read-only, a failed unlink), L2 switches itself
off: :attr:`DiskTier.unavailable` says why, every read misses and every write is declined.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from memories.errors import CorruptDataError
from memories.optimization.cache import disk_format, disk_io
from memories.optimization.cache.policies import EvictionPolicy
from memories.optimization.cache.stats import TierCounters, TierStats
from memories.optimization.cache.tier import Presence, StoredValue

logger = logging.getLogger(__name__)

DEFAULT_PENDING_LIMIT_BYTES = 64 * 1024 * 1024
"""Bytes of writes that may wait in memory for the writer thread before writers are made to wait."""


class _Indexed:
    """One indexed entry: file ``size`` in bytes, ``expires_at`` clock seconds or None, while its write has not
    landed the file ``contents`` (reads are served from them), and whether it is ``verified`` (see
    :meth:`DiskTier.distrust_recovered`)."""

    __slots__ = ("contents", "expires_at", "size", "verified")

    def __init__(self, size: int, expires_at: float | None, contents: bytes | None) -> None:
        self.size = size
        self.expires_at = expires_at
        self.contents = contents
        self.verified = True


class DiskTier:
    """A byte-bounded directory of entry files; see the module docstring."""

    name = "l2"

    def __init__(
        self,
        root: Path,
        capacity_bytes: int,
        policy: EvictionPolicy,
        clock: Callable[[], float],
        *,
        pending_limit_bytes: int = DEFAULT_PENDING_LIMIT_BYTES,
        writer: Executor | None = None,
        reader: Executor | None = None,
    ) -> None:
        """``writer`` runs the file operations in order (default: one thread of our own); ``reader`` runs file
        reads (default: asyncio's default executor). Tests pass executors that run jobs when told to."""
        self.root = root
        self.capacity_bytes = capacity_bytes
        self.pending_limit_bytes = pending_limit_bytes
        self.ready = False
        #: Why L2 is switched off (None while it works).
        self.unavailable: str | None = None
        self.counters = TierCounters()
        self.bytes_used = 0
        self._policy = policy
        self._clock = clock
        self._index: dict[str, _Indexed] = {}
        self._pending_bytes = 0
        self._writer = writer or ThreadPoolExecutor(max_workers=1, thread_name_prefix="memories-l2-writer")
        self._reader = reader
        self._last_mutation: asyncio.Future[Any] | None = None
        #: Called with each key that leaves the index (deleted, replaced, evicted, expired, cleared, switched off).
        self.on_remove: Callable[[str], None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def recover(self) -> None:
        """Rebuild the index from the directory (creating it if needed); idempotent.

        A directory that cannot be created or written switches L2 off (logged, :attr:`unavailable`); nothing is
        raised, so the cache keeps serving from its other tiers.
        """
        if self.ready:
            return
        try:
            found = await self._submit(disk_io.scan, self.root, self._clock())
        except OSError as error:
            self._switch_off(f"cannot use the L2 directory {self.root}: {error.strerror or error}")
            self.ready = True
            return
        for key, size, expires_at in found:
            self._index[key] = _Indexed(size, expires_at, None)
            self._policy.record_insert(key, size)
            self.bytes_used += size
        self._unlink(self._evict_until_fits(0))
        self.ready = True
        logger.info("l2: recovered %d entries (%d bytes) from %s", len(self._index), self.bytes_used, self.root)

    def distrust_recovered(self) -> int:
        """Mark every entry recovered so far as unverified (their keys may have changed elsewhere while this process
        was not listening): reads return them with ``verified`` False until :meth:`confirm`. Returns how many."""
        for indexed in self._index.values():
            indexed.verified = False
        return len(self._index)

    def confirm(self, key: str, expires_at: float | None) -> None:
        """``key``'s entry is still the current value (with this expiry, from the source of truth)."""
        indexed = self._index.get(key)
        if indexed is not None and not indexed.verified:
            indexed.verified = True
            if indexed.expires_at != expires_at:
                self.set_expiry(key, expires_at)

    async def settle(self) -> None:
        """Wait until every file operation issued so far has reached the disk (or failed)."""
        last = self._last_mutation
        if last is not None:
            await asyncio.wait([last])

    async def wait_for_room(self) -> None:
        """Wait while more than ``pending_limit_bytes`` of writes wait for the writer thread."""
        while not self.has_room:
            await self.settle()

    @property
    def has_room(self) -> bool:
        """Whether at most ``pending_limit_bytes`` of writes wait for the writer thread (wait_for_room returns)."""
        return self._pending_bytes <= self.pending_limit_bytes or self._last_mutation is None

    async def close(self, timeout_seconds: float | None = None) -> bool:
        """Let issued writes land (up to ``timeout_seconds``), then stop the writer; returns whether all landed."""
        try:
            await asyncio.wait_for(self.settle(), timeout_seconds)
            landed = True
        except TimeoutError:
            logger.error("l2: %d bytes of writes had not landed after %.1fs", self._pending_bytes, timeout_seconds)
            landed = False
        self._writer.shutdown(wait=False)
        return landed

    # --- reads -------------------------------------------------------------------------------

    def _live(self, key: str) -> _Indexed | None:
        indexed = self._index.get(key)
        if indexed is not None and indexed.expires_at is not None and indexed.expires_at <= self._clock():
            self.delete(key)
            return None
        return indexed

    async def get(self, key: str, *, count: bool = True) -> StoredValue | None:
        """Return the live value of ``key`` or None; ``count`` records a hit or miss (and a read for the policy)."""
        stored = await self._read(key)
        if not count:
            return stored
        if stored is None:
            self.counters.misses += 1
            return None
        if key in self._policy:
            self._policy.record_access(key)
        self.counters.hits += 1
        return stored

    async def _read(self, key: str) -> StoredValue | None:
        indexed = self._live(key)
        if indexed is None:
            return None
        contents = indexed.contents
        if contents is None:
            try:
                contents = await asyncio.get_running_loop().run_in_executor(
                    self._reader, disk_io.read_entry, self.root, key
                )
            except OSError as error:
                self._count_error(f"reading {key!r}", error)
                return None
            if contents is None:
                return None  # deleted meanwhile
        location = str(disk_format.entry_path(self.root, key))
        try:
            header, payload = disk_format.decode_entry(contents, location=location)
            if header.key != key:
                raise CorruptDataError(f"holds key {header.key!r}, expected {key!r}", location=location)
        except CorruptDataError as error:
            logger.warning("l2: dropping corrupt entry: %s", error)
            if self._index.get(key) is indexed:  # not replaced by a newer write while the file was read
                self.delete(key)
            return None
        return StoredValue(payload, indexed.expires_at, indexed.verified)

    def presence(self, key: str) -> Presence | None:
        """Whether ``key`` is live here, and its expiry; not counted as a read."""
        indexed = self._live(key)
        return None if indexed is None else Presence(indexed.expires_at)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    # --- mutations (the index changes now, the disk in issue order) ---------------------------

    def put(self, key: str, payload: bytes, expires_at: float | None) -> bool:
        """Store ``payload`` under ``key``, evicting entries as the policy decides.

        Returns False, storing nothing and dropping any older entry of ``key``, when L2 is switched off, the file
        would exceed the capacity or the key is longer than 65,535 bytes.
        """
        if self.unavailable is not None:
            return False
        try:
            contents = disk_format.encode_entry(key, payload, expires_at)
        except ValueError as error:
            logger.warning("%s", error)
            self.delete(key)
            return False
        if len(contents) > self.capacity_bytes:
            self.delete(key)
            return False
        self._forget(key)  # the new file replaces the old one: no unlink
        self._unlink(self._evict_until_fits(len(contents)))
        indexed = _Indexed(len(contents), expires_at, contents)
        self._index[key] = indexed
        self._policy.record_insert(key, len(contents))
        self.bytes_used += len(contents)
        self._pending_bytes += len(contents)
        landing = self._submit(disk_io.write_entry, self.root, key, contents)
        landing.add_done_callback(functools.partial(self._write_landed, key, indexed))
        return True

    def _write_landed(self, key: str, indexed: _Indexed, landing: asyncio.Future[None]) -> None:
        self._pending_bytes -= indexed.size
        indexed.contents = None
        error = landing.exception()
        if error is None:
            return
        if isinstance(error, disk_io.LeftoverFile):
            self._switch_off(str(error))
            return
        self._count_error(f"writing {key!r}", error)
        if self._index.get(key) is indexed:
            self._forget(key)  # write_entry removed the file: nothing of this key is on disk

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was indexed."""
        if not self._forget(key):
            return False
        self._unlink([key])
        return True

    def delete_many(self, keys: Iterable[str]) -> None:
        """:meth:`delete` each of ``keys``."""
        if self._index:
            self._unlink([key for key in keys if self._forget(key)])

    def set_expiry(self, key: str, expires_at: float | None) -> bool:
        """Give the live ``key`` a new expiry (None = never); returns False when absent."""
        indexed = self._live(key)
        if indexed is None:
            return False
        indexed.expires_at = expires_at
        if indexed.contents is not None:  # not written yet: write it again with the new header
            return self.put(key, disk_format.decode_entry(indexed.contents, location=key)[1], expires_at)
        self._submit(_rewrite_expiry, self.root, key, expires_at).add_done_callback(
            functools.partial(self._maintenance_done, f"changing the expiry of {key!r}")
        )
        return True

    def clear(self) -> None:
        """Remove every entry."""
        for key in list(self._index):
            self._forget(key)
        self._submit(disk_io.remove_all_entries, self.root).add_done_callback(
            functools.partial(self._maintenance_done, "removing every entry")
        )

    # --- bookkeeping ---------------------------------------------------------------------------

    def _submit(self, function: Callable[..., Any], *arguments: Any) -> asyncio.Future[Any]:
        landing = asyncio.get_running_loop().run_in_executor(self._writer, function, *arguments)
        self._last_mutation = landing
        return landing

    def _unlink(self, keys: list[str]) -> None:
        if keys:
            self._submit(disk_io.unlink_entries, self.root, keys).add_done_callback(
                functools.partial(self._maintenance_done, f"deleting {len(keys)} entries")
            )

    def _maintenance_done(self, what: str, landing: asyncio.Future[None]) -> None:
        error = landing.exception()
        if error is not None:
            # The disk now holds an entry the index does not: a restart could bring an old value back.
            self._switch_off(f"{what} in {self.root} failed: {error}")

    def _count_error(self, what: str, error: BaseException) -> None:
        self.counters.errors += 1
        if self.counters.errors == 1 or self.counters.errors % 1000 == 0:
            logger.error("l2: %s failed (%d errors so far): %s", what, self.counters.errors, error)

    def _switch_off(self, reason: str) -> None:
        if self.unavailable is None:
            logger.error("l2: switched off: %s", reason)
        self.unavailable = reason
        self.counters.errors += 1
        for key in list(self._index):
            self._forget(key)

    def _evict_until_fits(self, size: int) -> list[str]:
        victims: list[str] = []
        while self.bytes_used + size > self.capacity_bytes:
            victim = self._policy.choose_victim()
            if not isinstance(victim, str):
                raise AssertionError("the eviction policy has no victim although L2 is over budget")
            self._forget(victim, evicted=True)
            self.counters.evictions += 1
            victims.append(victim)
        return victims

    def _forget(self, key: str, *, evicted: bool = False) -> bool:
        indexed = self._index.pop(key, None)
        if indexed is None:
            return False
        self.bytes_used -= indexed.size
        self._policy.remove(key, evicted=evicted)
        if self.on_remove is not None:
            self.on_remove(key)
        return True

    async def iterate(self) -> AsyncIterator[str]:
        for key in list(self._index):
            yield key

    def __len__(self) -> int:
        return len(self._index)

    def stats(self) -> TierStats:
        return self.counters.snapshot(self.name, self.bytes_used, self.capacity_bytes, len(self._index))


def _rewrite_expiry(root: Path, key: str, expires_at: float | None) -> None:
    """Rewrite ``key``'s file with a new expiry (on the writer thread; absent or corrupt files are left alone)."""
    contents = disk_io.read_entry(root, key)
    if contents is None:
        return
    try:
        _header, payload = disk_format.decode_entry(contents, location=key)
    except CorruptDataError:
        return  # the next read finds it corrupt and deletes it
    disk_io.write_entry(root, key, disk_format.encode_entry(key, payload, expires_at))
