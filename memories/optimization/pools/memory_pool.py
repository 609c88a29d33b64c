"""MemoryPool: fixed-size blocks carved from one memory mapping, handed out zero-copy.

The arena (see :mod:`memories.optimization.pools.arena`) is split into one region per size
class (see :mod:`memories.optimization.pools.size_classes` for the layout). A block is located
by its ``offset`` in the arena - that is what another process mapping the same ``/dev/shm``
file needs - and identified by its ``id``, a number never reused during the pool's life, so a
stale id cannot release somebody else's block.

Allocation takes the smallest class that fits; free blocks of a class are a stack of indices
plus a bump pointer over never-used blocks, so allocate and release are O(1). Memory is not
zeroed between uses (like ``malloc``). Not thread-safe: use a pool from one event loop.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import os
from collections.abc import Sequence
from typing import Literal

from memories.errors import ConfigError, InvalidRelease, PoolClosed, PoolExhausted
from memories.optimization.pools.arena import Arena
from memories.optimization.pools.size_classes import Region, parse_block_sizes, plan_regions, smallest_fitting_class
from memories.optimization.pools.stats import MemoryPoolStats, SizeClassStats
from memories.optimization.pools.waiters import WaitQueue
from memories.units import Duration, Size, parse_duration, parse_size

ExhaustedPolicy = Literal["raise", "wait"]

logger = logging.getLogger(__name__)


class MemoryBlock:
    """A block lent by a :class:`MemoryPool`.

    ``view`` is a writable memoryview of exactly ``size`` bytes at ``offset`` in the arena
    (no copy). It is released - any access raises ValueError - once the block is released or
    the pool is closed. ``capacity`` and ``size_class`` are both the class's block size in bytes.
    Treat the attributes as read-only.
    """

    __slots__ = ("_index", "_owner", "capacity", "id", "offset", "pool", "size", "size_class", "view")

    def __init__(self, pool: MemoryPool, owner: _SizeClass, block_id: int, index: int, size: int) -> None:
        self.pool = pool
        self._owner = owner
        self._index = index
        self.id = block_id
        self.offset = owner.offset + index * owner.block_size
        self.size = size
        self.capacity = self.size_class = owner.block_size
        self.view = pool._arena.view[self.offset : self.offset + size]

    def __repr__(self) -> str:
        return (
            f"MemoryBlock(id={self.id}, offset={self.offset}, size={self.size}, "
            f"capacity={self.capacity}, size_class={self.size_class})"
        )


class _SizeClass:
    """Free-list bookkeeping of one region."""

    __slots__ = (
        "allocations",
        "block_size",
        "exhausted",
        "free",
        "high_water_blocks",
        "in_use",
        "next_unused",
        "offset",
        "region",
        "releases",
        "requested_bytes",
        "waiters",
    )

    def __init__(self, region: Region) -> None:
        self.region = region
        self.offset = region.offset
        self.block_size = region.size_class
        self.free: list[int] = []
        self.next_unused = 0
        self.in_use = 0
        self.requested_bytes = 0
        self.high_water_blocks = 0
        self.allocations = 0
        self.releases = 0
        self.exhausted = 0
        self.waiters: WaitQueue[int] = WaitQueue()

    def take(self) -> int | None:
        """Pop a free block index, or None when the class is full."""
        if self.free:
            return self.free.pop()
        if self.next_unused < self.region.block_count:
            self.next_unused += 1
            return self.next_unused - 1
        return None

    def put_back(self, index: int) -> None:
        """Hand ``index`` to the oldest waiter, or push it on the free stack."""
        if not (self.waiters.futures and self.waiters.hand_off(index)):
            self.free.append(index)

    def stats(self) -> SizeClassStats:
        return SizeClassStats(
            size_class=self.region.size_class,
            total_blocks=self.region.block_count,
            blocks_in_use=self.in_use,
            requested_bytes=self.requested_bytes,
            high_water_blocks=self.high_water_blocks,
            allocations=self.allocations,
            releases=self.releases,
            exhausted=self.exhausted,
            waiters=len(self.waiters),
        )


class MemoryPool:
    """A pool of fixed-size blocks in one arena of ``total_size`` bytes.

    Args:
        block_sizes: the size classes, bytes or size strings ("4KB").
        total_size: arena size, bytes or a size string ("1GB").
        shm_name: back the arena by ``/dev/shm/<shm_name>`` to share it with other processes.
        path: back the arena by this file instead.
        on_exhausted: ``"raise"`` → PoolExhausted at once when the fitting class is full;
            ``"wait"`` → wait (in arrival order) up to ``timeout`` for a release.
        timeout: default wait for ``on_exhausted="wait"`` (seconds or "5s"; None = forever).
        region_shares: relative share of the arena per block size (same order as ``block_sizes``).
        unlink_on_close: remove the backing file on close (default: only if this pool created it).
        file_mode: permissions of a created backing file.

    Raises:
        ConfigError: bad sizes, shares, names, a class that would get no block, or a backing file that cannot be
            opened or created (a missing directory, a permission denied), naming the path.
        OSError: the backing file cannot be sized or mapped.
    """

    def __init__(
        self,
        block_sizes: Sequence[Size],
        total_size: Size,
        *,
        shm_name: str | None = None,
        path: str | os.PathLike[str] | None = None,
        on_exhausted: ExhaustedPolicy = "raise",
        timeout: Duration | None = "5s",
        region_shares: Sequence[float] | None = None,
        unlink_on_close: bool | None = None,
        file_mode: int = 0o600,
    ) -> None:
        if on_exhausted not in ("raise", "wait"):
            raise ConfigError(f"on_exhausted: expected 'raise' or 'wait', got {on_exhausted!r}")
        self._block_sizes = parse_block_sizes(block_sizes)
        arena_size = parse_size(total_size, field="total_size", allow_zero=False)
        self._regions = plan_regions(self._block_sizes, arena_size, region_shares)
        self._on_exhausted = on_exhausted
        self._timeout = None if timeout is None else parse_duration(timeout, field="timeout")
        self._arena = Arena(
            arena_size, shm_name=shm_name, path=path, unlink_on_close=unlink_on_close, file_mode=file_mode
        )
        self._classes = [_SizeClass(region) for region in self._regions]
        self._largest_block_size = self._block_sizes[-1]
        self._live: dict[int, MemoryBlock] = {}
        self._ids = itertools.count(1)
        self._bytes_in_use = 0
        self._high_water_bytes = 0
        self._closed = False

    @property
    def path(self) -> str | None:
        """The file backing the arena, or None for an anonymous mapping."""
        return None if self._arena.path is None else str(self._arena.path)

    @property
    def block_sizes(self) -> tuple[int, ...]:
        return self._block_sizes

    @property
    def closed(self) -> bool:
        return self._closed

    def layout(self) -> tuple[Region, ...]:
        """The regions of the arena, one per size class, ascending."""
        return self._regions

    def allocate_nowait(self, size: Size) -> MemoryBlock:
        """Allocate without waiting: like :meth:`allocate` with ``on_exhausted="raise"``."""
        size_class, index, size_in_bytes = self._take(size)
        if index is None:
            raise _exhausted(size_class, size_in_bytes)
        return self._lend(size_class, index, size_in_bytes)

    async def allocate(self, size: Size, timeout: Duration | None = None) -> MemoryBlock:  # noqa: ASYNC109 (seed-style API)
        """Return a block of at least ``size`` bytes (bytes or "4KB") from the smallest fitting class.

        ``timeout`` overrides the pool's wait when ``on_exhausted="wait"``.

        Raises:
            ValueError (ConfigError): size <= 0, unparseable, or larger than the largest class.
            PoolExhausted: the class is full (at once, or after the timeout when waiting).
            PoolClosed: the pool is (or gets) closed.
        """
        size_class, index, size_in_bytes = self._take(size)
        if index is None:
            if self._on_exhausted == "raise":
                raise _exhausted(size_class, size_in_bytes)
            wait_seconds = self._timeout if timeout is None else parse_duration(timeout, field="timeout")
            try:
                index = await size_class.waiters.wait(wait_seconds, size_class.put_back)
            except TimeoutError:
                raise _exhausted(size_class, size_in_bytes, wait_seconds) from None
        return self._lend(size_class, index, size_in_bytes)

    def release_nowait(self, block_or_id: MemoryBlock | int) -> None:
        """Synchronous :meth:`release`."""
        block = self._claim(block_or_id)
        size_class = block._owner
        size_class.in_use -= 1
        size_class.releases += 1
        size_class.requested_bytes -= block.size
        self._bytes_in_use -= block.capacity
        try:
            block.view.release()
        except BufferError:
            logger.debug("block %d: its view is still exported (e.g. to numpy); that export stays usable", block.id)
        size_class.put_back(block._index)

    async def release(self, block_or_id: MemoryBlock | int) -> None:
        """Return a block (or its id) to the pool; its ``view`` becomes unusable.

        Raises:
            InvalidRelease: released twice, unknown id, or a block of another pool.
            PoolClosed: the pool is closed.
        """
        self.release_nowait(block_or_id)

    def block(self, block_id: int) -> MemoryBlock:
        """The live block with this id. Raises KeyError when there is none."""
        try:
            return self._live[block_id]
        except KeyError:
            raise KeyError(f"no live block with id {block_id}") from None

    def stats(self) -> MemoryPoolStats:
        """Return a snapshot of usage per class and for the whole pool."""
        return MemoryPoolStats.from_classes(
            tuple(size_class.stats() for size_class in self._classes),
            arena_bytes=self._arena.size,
            high_water_bytes=self._high_water_bytes,
        )

    def close(self) -> None:
        """Fail waiters with PoolClosed, invalidate every block's view, unmap (and unlink) the arena.

        Synchronous (nothing to await: it only unmaps), like ``mmap.close()``. Idempotent.
        Memoryviews you derived from a block's ``view`` keep the mapping alive until they are
        garbage-collected (a warning is logged).
        """
        if self._closed:
            return
        self._closed = True
        for size_class in self._classes:
            size_class.waiters.fail_all(PoolClosed("the memory pool was closed"))
        for block in self._live.values():
            # An exporter outliving the pool keeps the mapping; the arena logs it when unmapping fails.
            with contextlib.suppress(BufferError):
                block.view.release()
        self._live.clear()
        self._arena.close()

    def __enter__(self) -> MemoryPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> MemoryPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def _take(self, size: Size) -> tuple[_SizeClass, int | None, int]:
        """Find the fitting class and take a free index (None when full or others queue first)."""
        if self._closed:
            raise PoolClosed("the memory pool is closed")
        if type(size) is int and 0 < size <= self._largest_block_size:
            size_in_bytes: int = size
            size_class = self._classes[bisect.bisect_left(self._block_sizes, size)]
        else:
            class_index, size_in_bytes = smallest_fitting_class(self._block_sizes, size)
            size_class = self._classes[class_index]
        if size_class.waiters.futures:
            index = None
        elif size_class.free:
            index = size_class.free.pop()
        else:
            index = size_class.take()
        if index is None:
            size_class.exhausted += 1
        return size_class, index, size_in_bytes

    def _lend(self, size_class: _SizeClass, index: int, size: int) -> MemoryBlock:
        block = MemoryBlock(self, size_class, next(self._ids), index, size)
        self._live[block.id] = block
        size_class.in_use += 1
        size_class.allocations += 1
        size_class.requested_bytes += size
        if size_class.in_use > size_class.high_water_blocks:
            size_class.high_water_blocks = size_class.in_use
        self._bytes_in_use += size_class.block_size
        if self._bytes_in_use > self._high_water_bytes:
            self._high_water_bytes = self._bytes_in_use
        return block

    def _claim(self, block_or_id: MemoryBlock | int) -> MemoryBlock:
        """Remove a live block from the registry, validating ownership."""
        if self._closed:
            raise PoolClosed("the memory pool is closed")
        if type(block_or_id) is MemoryBlock or isinstance(block_or_id, MemoryBlock):
            if block_or_id.pool is not self:
                raise InvalidRelease(f"block {block_or_id.id} belongs to another memory pool")
            block_id = block_or_id.id
        elif isinstance(block_or_id, int) and not isinstance(block_or_id, bool):
            block_id = block_or_id
        else:
            raise TypeError(f"release: expected a MemoryBlock or its id, got {block_or_id!r}")
        block = self._live.pop(block_id, None)
        if block is None:
            raise InvalidRelease(f"block {block_id} is not allocated (already released, or never was)")
        return block


def _exhausted(size_class: _SizeClass, size: int, waited_seconds: float | None = None) -> PoolExhausted:
    waited = "" if waited_seconds is None else f" within {waited_seconds}s"
    return PoolExhausted(f"no {size_class.region.size_class}-byte block free{waited} for a {size}-byte request")
