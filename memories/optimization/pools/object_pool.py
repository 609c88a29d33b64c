"""ObjectPool: reuse expensive objects (connections, models, clients) across tasks.

Life of a pooled object:

* created by ``factory`` (sync, or returning an awaitable) - lazily: the pool is usable right
  after its synchronous constructor; the first :meth:`ObjectPool.acquire` (or an explicit
  ``await pool.start()``) creates ``max(initial_size, min_size)`` objects one after another;
* checked on every acquire: older than ``max_lifetime`` or rejected by ``validate`` (returns
  false or raises) → destroyed and replaced by a fresh one;
* returned after the ``async with`` body: destroyed when the body raised (``discard_on_error``),
  when it has been used ``max_uses`` times or outlived ``max_lifetime``, or when ``reset``
  raises; otherwise reset and put back;
* reaped by a background task when idle longer than ``idle_timeout`` - never below
  ``min_size`` objects - and topped back up to ``min_size``.

When all ``max_size`` objects are in use, acquirers wait in arrival order (a released object is
handed straight to the oldest waiter) and get :class:`~memories.errors.PoolExhausted` after the
timeout. Not thread-safe: use a pool from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from memories.errors import ConfigError, PoolClosed, PoolExhausted
from memories.optimization.pools.callbacks import resolve
from memories.optimization.pools.stats import ObjectPoolStats
from memories.optimization.pools.waiters import WaitQueue
from memories.units import Duration, parse_duration

PooledObject = TypeVar("PooledObject")

logger = logging.getLogger(__name__)

_SHORTEST_REAP_INTERVAL_SECONDS = 0.01
_LONGEST_REAP_INTERVAL_SECONDS = 30.0


@dataclass(slots=True)
class _Entry(Generic[PooledObject]):
    value: PooledObject
    created_at: float
    last_used: float
    uses: int = 0


def _optional_duration(value: Duration | None, field: str) -> float | None:
    return None if value is None else parse_duration(value, field=field, allow_zero=False)


class ObjectPool(Generic[PooledObject]):
    """A bounded async pool of reusable objects.

    Args:
        factory: makes one object; may be sync or return an awaitable.
        initial_size: objects created on first use (or by :meth:`start`).
        max_size: most objects alive at once; acquirers beyond it wait.
        min_size: floor for idle reaping and the level the reaper tops up to;
            defaults to ``initial_size``.
        acquire_timeout: default wait for a busy pool (seconds or "30s"); None waits forever.
        validate: ``validate(obj) -> bool`` (sync or async) run on every acquire of a reused
            object; false or an exception destroys and replaces it.
        reset: ``reset(obj)`` (sync or async) run before an object goes back to the pool;
            an exception destroys the object.
        max_lifetime: seconds after creation when an object is retired.
        max_uses: acquisitions after which an object is retired.
        idle_timeout: seconds an idle object may sit unused before the reaper destroys it.
        close_fn: ``close_fn(obj)`` (sync or async) to dispose of destroyed objects;
            its exceptions are logged, never raised.
        discard_on_error: destroy the object when the ``async with`` body raises
            (including cancellation) instead of resetting and reusing it.

    Raises:
        ConfigError: inconsistent sizes or unparseable durations.
    """

    def __init__(
        self,
        factory: Callable[[], PooledObject | Awaitable[PooledObject]],
        initial_size: int = 0,
        max_size: int = 10,
        *,
        min_size: int | None = None,
        acquire_timeout: Duration | None = "30s",
        validate: Callable[[PooledObject], bool | Awaitable[bool]] | None = None,
        reset: Callable[[PooledObject], object] | None = None,
        max_lifetime: Duration | None = None,
        max_uses: int | None = None,
        idle_timeout: Duration | None = None,
        close_fn: Callable[[PooledObject], object] | None = None,
        discard_on_error: bool = True,
    ) -> None:
        resolved_min = initial_size if min_size is None else min_size
        if max_size < 1:
            raise ConfigError(f"max_size: must be >= 1, got {max_size!r}")
        if not 0 <= initial_size <= max_size:
            raise ConfigError(f"initial_size: must be between 0 and max_size ({max_size}), got {initial_size!r}")
        if not 0 <= resolved_min <= max_size:
            raise ConfigError(f"min_size: must be between 0 and max_size ({max_size}), got {min_size!r}")
        if max_uses is not None and max_uses < 1:
            raise ConfigError(f"max_uses: must be >= 1, got {max_uses!r}")
        self._factory = factory
        self._initial_size = initial_size
        self._max_size = max_size
        self._min_size = resolved_min
        self._acquire_timeout = _optional_duration(acquire_timeout, "acquire_timeout")
        self._validate = validate
        self._reset = reset
        self._max_lifetime = _optional_duration(max_lifetime, "max_lifetime")
        self._max_uses = max_uses
        self._idle_timeout = _optional_duration(idle_timeout, "idle_timeout")
        self._close_fn = close_fn
        self._discard_on_error = discard_on_error

        self._idle: deque[_Entry[PooledObject]] = deque()
        self._waiters: WaitQueue[_Entry[PooledObject] | None] = WaitQueue()
        self._size = 0
        self._in_use = 0
        self._started = False
        self._closed = False
        self._drained: asyncio.Event | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._disposals: set[asyncio.Task[None]] = set()
        self._created = 0
        self._destroyed = 0
        self._acquisitions = 0
        self._timeouts = 0
        self._validation_failures = 0
        self._wait_seconds_total = 0.0

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Create the initial objects now and start the idle reaper (otherwise done by the first acquire).

        Raises whatever ``factory`` raises; objects created before the failure are kept.
        """
        if self._closed:
            raise PoolClosed("the object pool is closed")
        if self._started:
            return
        self._started = True
        try:
            await self._top_up(max(self._initial_size, self._min_size))
        except BaseException:
            self._started = False
            raise
        if self._reaper is None and (self._idle_timeout is not None or self._max_lifetime is not None):
            self._reaper = asyncio.create_task(_reap_periodically(weakref.ref(self), self._reap_interval()))

    def acquire(self, timeout: Duration | None = None) -> AbstractAsyncContextManager[PooledObject]:
        """Lend an object for the duration of an ``async with`` block.

        ``timeout`` (seconds or "5s") bounds the wait for a busy pool; None uses ``acquire_timeout``.
        Creating or validating an object is not covered by the timeout.

        Raises (on entering the block):
            PoolExhausted: no object became free within the timeout.
            PoolClosed: the pool is (or gets) closed.
            Exception: whatever ``factory`` raises when a new object is needed.
        """
        return _Lease(self, timeout)

    async def reap(self) -> int:
        """Destroy idle objects past ``idle_timeout`` (keeping ``min_size``) or ``max_lifetime``.

        Then tops the pool back up to ``min_size``. Returns how many objects were destroyed.
        Called periodically by the background reaper; public for deterministic use.
        """
        now = time.monotonic()
        doomed: list[_Entry[PooledObject]] = []
        survivors: deque[_Entry[PooledObject]] = deque()
        for entry in self._idle:
            idle_too_long = self._idle_timeout is not None and now - entry.last_used >= self._idle_timeout
            above_floor = self._size - len(doomed) > self._min_size
            if self._expired(entry, now) or (idle_too_long and above_floor):
                doomed.append(entry)
            else:
                survivors.append(entry)
        self._idle = survivors
        for entry in doomed:
            await self._retire(entry)
        if not self._closed:
            await self._top_up(self._min_size)
        return len(doomed)

    async def close(self, *, wait: bool = False) -> None:
        """Close the pool: fail waiters with PoolClosed, stop the reaper, destroy idle objects.

        Objects in use are destroyed when their ``async with`` block ends; with ``wait=True``
        this call also waits until they all have been returned. Calling close twice is harmless.
        """
        if not self._closed:
            self._closed = True
            self._waiters.fail_all(PoolClosed("the object pool was closed"))
            if self._reaper is not None:
                self._reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reaper
                self._reaper = None
            while self._idle:
                await self._retire(self._idle.popleft())
        if self._disposals:
            await asyncio.gather(*self._disposals, return_exceptions=True)
        if wait and self._in_use:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()

    async def __aenter__(self) -> ObjectPool[PooledObject]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def stats(self) -> ObjectPoolStats:
        """Return a snapshot of sizes and counters."""
        return ObjectPoolStats(
            size=self._size,
            idle=len(self._idle),
            in_use=self._in_use,
            waiters=len(self._waiters),
            max_size=self._max_size,
            min_size=self._min_size,
            created=self._created,
            destroyed=self._destroyed,
            acquisitions=self._acquisitions,
            timeouts=self._timeouts,
            validation_failures=self._validation_failures,
            wait_seconds_total=self._wait_seconds_total,
        )

    async def _check_out(self, timeout: Duration | None) -> _Entry[PooledObject]:  # noqa: ASYNC109
        if self._closed:
            raise PoolClosed("the object pool is closed")
        if not self._started:
            await self.start()
        timeout_seconds = self._acquire_timeout if timeout is None else parse_duration(timeout, field="timeout")
        grant = await self._grant(timeout_seconds)
        if grant is not None:
            try:
                usable = await self._usable(grant)
            except BaseException:
                self._return_idle(grant)
                raise
            if usable:
                return self._lend(grant)
        try:
            if grant is not None:
                await self._destroy(grant)
            return self._lend(await self._create())
        except BaseException:
            self._free_slot()
            raise

    async def _grant(self, timeout_seconds: float | None) -> _Entry[PooledObject] | None:
        """Return an idle entry, or None meaning "a slot is reserved for you: create one"."""
        if not self._waiters:
            if self._idle:
                return self._idle.pop()
            if self._size < self._max_size:
                self._size += 1
                return None
        started = time.monotonic()
        try:
            return await self._waiters.wait(timeout_seconds, self._give_back)
        except TimeoutError:
            self._timeouts += 1
            raise PoolExhausted(
                f"no pooled object became free within {timeout_seconds}s ({self._max_size} in use)"
            ) from None
        finally:
            self._wait_seconds_total += time.monotonic() - started

    def _lend(self, entry: _Entry[PooledObject]) -> _Entry[PooledObject]:
        entry.uses += 1
        self._in_use += 1
        self._acquisitions += 1
        return entry

    async def _usable(self, entry: _Entry[PooledObject]) -> bool:
        if self._max_lifetime is not None and self._expired(entry, time.monotonic()):
            return False
        if self._validate is None:
            return True
        try:
            valid = bool(await resolve(self._validate(entry.value)))
        except Exception:
            logger.warning("pooled object failed validation with an exception; replacing it", exc_info=True)
            valid = False
        if not valid:
            self._validation_failures += 1
        return valid

    async def _check_in(self, entry: _Entry[PooledObject], *, body_failed: bool) -> None:
        self._in_use -= 1
        retire = self._closed or (body_failed and self._discard_on_error) or self._worn_out(entry)
        try:
            if not retire and self._reset is not None:
                retire = not await self._reset_succeeds(entry)
        except BaseException:
            retire = True
            raise
        finally:
            if retire:
                await self._retire(entry)
            else:
                entry.last_used = time.monotonic()
                self._return_idle(entry)
            if self._closed and self._in_use == 0 and self._drained is not None:
                self._drained.set()

    async def _reset_succeeds(self, entry: _Entry[PooledObject]) -> bool:
        assert self._reset is not None
        try:
            await resolve(self._reset(entry.value))
        except Exception:
            logger.warning("resetting a pooled object failed; destroying it", exc_info=True)
            return False
        return True

    async def _retire(self, entry: _Entry[PooledObject]) -> None:
        try:
            await self._destroy(entry)
        finally:
            self._free_slot()

    def _worn_out(self, entry: _Entry[PooledObject]) -> bool:
        used_up = self._max_uses is not None and entry.uses >= self._max_uses
        return used_up or self._expired(entry, time.monotonic())

    def _expired(self, entry: _Entry[PooledObject], now: float) -> bool:
        return self._max_lifetime is not None and now - entry.created_at >= self._max_lifetime

    async def _create(self) -> _Entry[PooledObject]:
        value = await resolve(self._factory())
        self._created += 1
        now = time.monotonic()
        return _Entry(value=value, created_at=now, last_used=now)

    async def _destroy(self, entry: _Entry[PooledObject]) -> None:
        self._destroyed += 1
        if self._close_fn is None:
            return
        try:
            await resolve(self._close_fn(entry.value))
        except Exception:
            logger.warning("closing a pooled object failed", exc_info=True)

    async def _top_up(self, target: int) -> None:
        while not self._closed and self._size < min(target, self._max_size) and not self._waiters:
            self._size += 1
            try:
                entry = await self._create()
            except BaseException:
                self._free_slot()
                raise
            self._return_idle(entry)

    def _return_idle(self, entry: _Entry[PooledObject]) -> None:
        if self._closed:
            # Only reachable in races with close(); dispose of the object in the background.
            disposal = asyncio.get_running_loop().create_task(self._retire(entry))
            self._disposals.add(disposal)
            disposal.add_done_callback(self._disposals.discard)
            return
        if not self._waiters.hand_off(entry):
            self._idle.append(entry)

    def _free_slot(self) -> None:
        if self._closed or not self._waiters.hand_off(None):
            self._size -= 1

    def _give_back(self, grant: _Entry[PooledObject] | None) -> None:
        if grant is None:
            self._free_slot()
        else:
            self._return_idle(grant)

    def _reap_interval(self) -> float:
        limits = [limit for limit in (self._idle_timeout, self._max_lifetime) if limit is not None]
        return min(max(min(limits) / 2, _SHORTEST_REAP_INTERVAL_SECONDS), _LONGEST_REAP_INTERVAL_SECONDS)


class _Lease(Generic[PooledObject]):
    """The ``async with`` of :meth:`ObjectPool.acquire`: checks out on enter, back in on exit."""

    __slots__ = ("_entry", "_pool", "_timeout")

    def __init__(self, pool: ObjectPool[PooledObject], timeout: Duration | None) -> None:
        self._pool = pool
        self._timeout = timeout

    async def __aenter__(self) -> PooledObject:
        self._entry = await self._pool._check_out(self._timeout)
        return self._entry.value

    async def __aexit__(self, exception_type: type[BaseException] | None, *exc_info: object) -> None:
        await self._pool._check_in(self._entry, body_failed=exception_type is not None)


async def _reap_periodically(pool_reference: weakref.ref[ObjectPool[Any]], interval_seconds: float) -> None:
    """Reap idle objects every ``interval_seconds`` until the pool closes or is garbage-collected."""
    while True:
        await asyncio.sleep(interval_seconds)
        pool = pool_reference()
        if pool is None or pool.closed:
            return
        try:
            await pool.reap()
        except Exception:
            logger.warning("reaping idle pooled objects failed", exc_info=True)
        del pool
