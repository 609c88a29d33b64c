"""L2: packed values in files on local disk, surviving restarts.

One file per entry (layout in :mod:`memories.optimization.cache.disk_format`). Writes go to
``<root>/tmp/`` first and are moved into place with ``os.replace``, so a crash leaves either the
old file, the new one, or a temp file that the next start deletes. Files are not fsynced: an entry
torn by a power cut fails its checksum and is deleted, which is the right outcome for a cache.

The index (key → file size, expiry) lives in memory and is rebuilt by :meth:`DiskTier.recover`,
which scans the directory in a thread and deletes malformed, truncated or expired entries.
A full checksum is verified on every read; a corrupt entry is deleted and reported as a miss,
never served. ``capacity_bytes`` bounds the sum of the entry files' sizes (bytes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from memories.errors import CorruptDataError
from memories.optimization.cache import disk_format
from memories.optimization.cache.policies import EvictionPolicy
from memories.optimization.cache.stats import TierCounters, TierStats
from memories.optimization.cache.tier import Presence, StoredValue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Indexed:
    size: int
    expires_at: float | None


class DiskTier:
    """A byte-bounded directory of entry files; see the module docstring."""

    name = "l2"

    def __init__(self, root: Path, capacity_bytes: int, policy: EvictionPolicy, clock: Callable[[], float]) -> None:
        self.root = root
        self.capacity_bytes = capacity_bytes
        self.ready = False
        self.counters = TierCounters()
        self.bytes_used = 0
        self._policy = policy
        self._clock = clock
        self._index: dict[str, _Indexed] = {}
        self._write_lock = asyncio.Lock()

    async def recover(self) -> None:
        """Rebuild the index from the directory (creating it if needed); idempotent."""
        if self.ready:
            return
        found = await asyncio.to_thread(_scan, self.root, self._clock())
        for key, size, expires_at in found:
            self._index[key] = _Indexed(size, expires_at)
            self._policy.record_insert(key, size)
            self.bytes_used += size
        victims = self._evict_until_fits(0)
        await asyncio.to_thread(_unlink_all, [disk_format.entry_path(self.root, key) for key in victims])
        self.ready = True
        logger.info("l2: recovered %d entries (%d bytes) from %s", len(self._index), self.bytes_used, self.root)

    def _is_live(self, indexed: _Indexed) -> bool:
        return indexed.expires_at is None or indexed.expires_at > self._clock()

    async def get(self, key: str, *, count: bool = True) -> StoredValue | None:
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
        """Return the verified live value of ``key`` without counting; deletes it if expired or corrupt."""
        indexed = self._index.get(key)
        if indexed is None or not self._is_live(indexed):
            if indexed is not None:
                await self.delete(key)
            return None
        path = disk_format.entry_path(self.root, key)
        try:
            contents = await asyncio.to_thread(path.read_bytes)
            header, payload = disk_format.decode_entry(contents, location=str(path))
            if header.key != key:
                raise CorruptDataError(f"holds key {header.key!r}, expected {key!r}", location=str(path))
        except FileNotFoundError:
            return None
        except CorruptDataError as error:
            logger.warning("l2: dropping corrupt entry: %s", error)
            await self._drop_if_corrupt(key)
            return None
        return StoredValue(payload, header.expires_at)

    async def _drop_if_corrupt(self, key: str) -> None:
        """Delete ``key``'s file unless a concurrent write replaced it with a valid one meanwhile."""
        async with self._write_lock:
            path = disk_format.entry_path(self.root, key)
            try:
                disk_format.decode_entry(await asyncio.to_thread(path.read_bytes), location=str(path))
            except CorruptDataError:
                self._forget(key)
                await asyncio.to_thread(_unlink_all, [path])
            except FileNotFoundError:
                self._forget(key)

    async def put(self, key: str, payload: bytes, expires_at: float | None) -> bool:
        """Write the entry, evicting (deleting) other entries as the policy decides.

        Returns False, storing nothing, when the file would exceed the capacity or the key is
        longer than 65,535 bytes.
        """
        try:
            contents = disk_format.encode_entry(key, payload, expires_at)
        except ValueError as error:
            logger.warning("%s", error)
            return False
        if len(contents) > self.capacity_bytes:
            return False
        async with self._write_lock:
            self._forget(key)
            victims = self._evict_until_fits(len(contents))
            paths = [disk_format.entry_path(self.root, victim) for victim in victims]
            await asyncio.to_thread(_replace_and_unlink, self.root, key, contents, paths)
            self._index[key] = _Indexed(len(contents), expires_at)
            self._policy.record_insert(key, len(contents))
            self.bytes_used += len(contents)
        return True

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
        return True

    async def delete(self, key: str) -> bool:
        async with self._write_lock:
            if not self._forget(key):
                return False
            await asyncio.to_thread(_unlink_all, [disk_format.entry_path(self.root, key)])
            return True

    async def presence(self, key: str) -> Presence | None:
        indexed = self._index.get(key)
        if indexed is None or not self._is_live(indexed):
            return None
        return Presence(indexed.expires_at)

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        """Rewrite ``key``'s file with a new expiry; returns False if absent or unreadable."""
        stored = await self._read(key)
        if stored is None:
            return False
        return await self.put(key, stored.payload, expires_at)

    async def clear(self) -> None:
        async with self._write_lock:
            for key in list(self._index):
                self._forget(key)
            await asyncio.to_thread(_remove_entries, self.root)

    async def iterate(self) -> AsyncIterator[str]:
        for key in list(self._index):
            yield key

    def live_keys(self) -> set[str]:
        """Return the keys whose entries have not expired (by the index)."""
        return {key for key, indexed in self._index.items() if self._is_live(indexed)}

    def stats(self) -> TierStats:
        return self.counters.snapshot(self.name, self.bytes_used, self.capacity_bytes, len(self._index))


def _scan(root: Path, now: float) -> list[tuple[str, int, float | None]]:
    """Return (key, file size, expiry) of every valid entry under ``root``, oldest first.

    Deletes temp files, malformed or truncated entries, misplaced files and expired entries.
    """
    shutil.rmtree(root / "tmp", ignore_errors=True)
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    found: list[tuple[float, str, int, float | None]] = []
    for path in root.glob(f"??/??/*{disk_format.SUFFIX}"):
        try:
            with path.open("rb") as file:
                head = file.read(disk_format.HEADER.size + disk_format.MAXIMUM_KEY_BYTES)
                status = os.fstat(file.fileno())
            header = disk_format.decode_header(head, location=str(path))
            if status.st_size != header.file_size:
                raise CorruptDataError(f"size {status.st_size} bytes, header implies {header.file_size}")
            if disk_format.entry_path(root, header.key) != path:
                raise CorruptDataError("file name does not match the key it holds")
        except (CorruptDataError, OSError) as error:
            logger.warning("l2: deleting unusable entry %s: %s", path, error)
            path.unlink(missing_ok=True)
            continue
        if header.expires_at is not None and header.expires_at <= now:
            path.unlink(missing_ok=True)
            continue
        found.append((status.st_mtime, header.key, header.file_size, header.expires_at))
    found.sort(key=lambda item: item[0])
    return [(key, size, expires_at) for _mtime, key, size, expires_at in found]


def _replace_and_unlink(root: Path, key: str, contents: bytes, victims: list[Path]) -> None:
    _unlink_all(victims)
    target = disk_format.entry_path(root, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = root / "tmp" / f"{uuid.uuid4().hex}.tmp"
    temporary.write_bytes(contents)
    os.replace(temporary, target)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _remove_entries(root: Path) -> None:
    for path in root.glob(f"??/??/*{disk_format.SUFFIX}"):
        path.unlink(missing_ok=True)
