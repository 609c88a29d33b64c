"""How a cache writes: :class:`LocalWrites` when L1 and L2 are the cache, :class:`SharedWrites` when L3 is the source
of truth and L1/L2 hold copies of it. :class:`CacheManager <memories.optimization.cache.manager.CacheManager>`
validates each write (key, value, expiry, sizes) and hands it to the one its configuration uses.

Local writes decide and write in one step of the event loop: a conditional write or an increment that had to read
L2 first starts over if its key was written meanwhile (its fence tells), so it is atomic within the process.
Shared writes drop the local copies, let Redis execute the write (``SET ... NX|XX|GET|KEEPTTL``, ``INCRBY``,
``UNLINK``, ``PEXPIRE``), and keep the acknowledged value as the local copy unless something newer happened
meanwhile: atomic across every agent. A plain SET can also go on in callbacks instead of a coroutine
(:meth:`Writes.set_then`): the same steps, without a task or a chain of coroutines per write (the sidecar's SET),
and so can a pipeline's run of plain SETs together (:meth:`Writes.set_many_then`, :mod:`.write_batch`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol

from memories.errors import TierUnavailable, ValueTooLarge, WrongValueType
from memories.optimization.cache.codec import UnencodableValue
from memories.optimization.cache.fences import WriteFence
from memories.optimization.cache.integers import INT64_MAX, INT64_MIN, parse_integer
from memories.optimization.cache.key_guard import KeyGuard
from memories.optimization.cache.keys import MISSING
from memories.optimization.cache.local_copies import pack_or_none
from memories.optimization.cache.remote.values import bytes_to_remote, from_remote, to_remote
from memories.optimization.cache.write_batch import BatchDone, SetBatch

if TYPE_CHECKING:
    from memories.optimization.cache.remote.tier import RemoteTier  # redis loads only when L3 is used

logger = logging.getLogger(__name__)

#: ``"absent"`` writes only a key that does not exist (Redis' NX), ``"present"`` only one that does (XX).
Condition = Literal["absent", "present"]
_REDIS_CONDITION = {"absent": "NX", "present": "XX"}
_NOT_AN_INTEGER = "ERR value is not an integer or out of range"
_OVERFLOW = "ERR increment or decrement would overflow"

#: Raises ValueTooLarge unless a value of this L1 cost, packed (L2) and Redis bytes (L3) fits in some tier.
CheckFits = Callable[[str, int, bytes | None, bytes | None], None]
#: Told how a write started by :meth:`Writes.set_then` ended: None once acknowledged, else what set() would raise.
WriteDone = Callable[[Exception | None], None]


class Writes(Protocol):
    """The writes of one cache, on validated arguments (normalized key, bytes-like values as bytes, absolute
    expiry times in clock seconds)."""

    async def set(self, key: str, value: object, expires_at: float | None) -> None:
        """Store ``value``."""

    def set_then(self, key: str, value: bytes, expires_at: float | None, done: WriteDone) -> bool:
        """Start :meth:`set` without suspending: True when started (``done`` is called once, later), False when it
        cannot start at once (nothing happened: call :meth:`set`)."""

    def set_many_then(self, keys: list[str], values: list[bytes], done: BatchDone) -> bool:
        """Start :meth:`set_then` of each pair (no expiry), in order, together: True when all started (``done`` is
        called once, with every outcome), False when any cannot start at once (nothing happened)."""

    async def getset(
        self, key: str, value: object, expires_at: float | None, condition: Condition | None, keep_ttl: bool
    ) -> tuple[bool, object]:
        """Store ``value`` if ``condition`` holds; return (stored, the previous value or None)."""

    async def increment(self, key: str, amount: int) -> int:
        """Add ``amount`` to the integer under ``key`` (absent: 0), keeping its expiry; return the new number."""

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        """Give ``key`` a new expiry (None: never); return whether it exists."""

    async def store_computed(self, key: str, value: object, expires_at: float | None) -> None:
        """Store what a compute_fn or loader produced, unless the key was written meanwhile."""


class LocalWrites:
    """Writes of a cache without L3 (see the module docstring)."""

    def __init__(self, guard: KeyGuard, check_fits: CheckFits) -> None:
        self._guard = guard
        self._local = guard.local
        self._check_fits = check_fits

    def _install_now(self, key: str, value: object, expires_at: float | None) -> None:
        packed = pack_or_none(value) if self._local.l2 is not None else None
        cost = self._local.l1.cost(key, value)
        self._check_fits(key, cost, packed, None)
        self._guard.supersede(key)
        self._local.install(key, value, expires_at, packed=packed, cost=cost)

    async def set(self, key: str, value: object, expires_at: float | None) -> None:
        self._install_now(key, value, expires_at)
        await self._local.settle()

    def set_then(self, key: str, value: bytes, expires_at: float | None, done: WriteDone) -> bool:
        return False  # nothing to wait for but L2's back pressure: set() is as quick

    def set_many_then(self, keys: list[str], values: list[bytes], done: BatchDone) -> bool:
        return False

    async def _current(self, key: str) -> tuple[object, float | None] | None:
        """The local value and expiry of ``key`` (L1, else L2) without counting a read, or None."""
        current = self._local.current(key)
        if current is not MISSING:
            return current  # type: ignore[return-value]
        found = await self._local.read_l2(key, count=False)
        return None if found is None else (found[0], found[1])  # no L3: every L2 entry is the cache's own

    async def getset(
        self, key: str, value: object, expires_at: float | None, condition: Condition | None, keep_ttl: bool
    ) -> tuple[bool, object]:
        while True:
            with self._guard.fences.watch(key) as fence:
                current = await self._current(key)
                if fence.superseded:
                    continue  # written meanwhile: decide again on the newer value
                previous, current_expiry = current if current is not None else (None, None)
                if (condition == "absent" and current is not None) or (condition == "present" and current is None):
                    return False, previous
                self._install_now(key, value, current_expiry if keep_ttl else expires_at)
            await self._local.settle()
            return True, previous

    async def increment(self, key: str, amount: int) -> int:
        while True:
            with self._guard.fences.watch(key) as fence:
                current = await self._current(key)
                if fence.superseded:
                    continue
                previous, expires_at = current if current is not None else (b"0", None)
                number = integer_value(previous) + amount
                if not INT64_MIN <= number <= INT64_MAX:
                    raise WrongValueType(_OVERFLOW)
                self._install_now(key, b"%d" % number, expires_at)
            await self._local.settle()
            return number

    async def delete(self, key: str) -> bool:
        return self._guard.drop(key)

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        self._guard.supersede(key)
        return self._local.set_expiry(key, expires_at)

    async def store_computed(self, key: str, value: object, expires_at: float | None) -> None:
        await self.set(key, value, expires_at)  # the caller checked the fence; nothing waits in between


class SharedWrites:
    """Writes of a cache whose source of truth is L3 (see the module docstring)."""

    def __init__(self, guard: KeyGuard, l3: RemoteTier, check_fits: CheckFits) -> None:
        self._guard = guard
        self._local = guard.local
        self._l3 = l3
        self._check_fits = check_fits
        self._settling: set[asyncio.Task[None]] = set()  # set_then writes waiting for L2's back pressure

    def _remote_bytes(self, key: str, value: object) -> tuple[bytes | None, int]:
        """What Redis stores for ``value`` (None: it can only live in L1) and L1's cost of the entry; raises
        ValueTooLarge."""
        try:
            remote: bytes | None = to_remote(value)
        except UnencodableValue:
            remote = None
        packed = pack_or_none(value) if self._local.l2 is not None and remote is None else None
        cost = self._local.l1.cost(key, value)
        self._check_fits(key, cost, packed, remote)
        return remote, cost

    async def set(self, key: str, value: object, expires_at: float | None) -> None:
        remote, cost = self._remote_bytes(key, value)
        self._guard.drop(key)
        with self._guard.fences.watch_write(key) as fence:
            if remote is None:
                await self._l3.delete(key)  # an L1-only value: no agent may read an older shared one
            else:
                await self._l3.set(key, remote, expires_at)
            if self._guard.may_install_write(fence):
                self._local.install(key, value, expires_at, cost=cost)
        await self._local.settle()

    def set_then(self, key: str, value: bytes, expires_at: float | None, done: WriteDone) -> bool:
        """:meth:`set` of bytes in callbacks: the same steps, ``done`` called from the reply of Redis."""
        if not self._local.settled:
            return False
        remote, cost = self._remote_bytes(key, value)
        if remote is None:
            return False
        self._guard.discard(key)
        fence = self._guard.fences.watch_write(key).open()
        acknowledged = partial(self._set_acknowledged, fence, value, expires_at, cost, done)
        if self._l3.set_then(key, remote, expires_at, acknowledged):
            return True
        fence.close()
        return False

    def set_many_then(self, keys: list[str], values: list[bytes], done: BatchDone) -> bool:
        """:meth:`set_then` of each pair, the batch's state in one :class:`~.write_batch.SetBatch`."""
        if not self._local.settled:
            return False
        remotes = bytes_to_remote(values)
        costs = self._local.l1.costs(keys, values)
        if max(costs) > self._local.l1.capacity_bytes:  # else each fits L1: nothing more to check
            try:
                for key, cost, remote in zip(keys, costs, remotes, strict=True):
                    self._check_fits(key, cost, None, remote)
            except ValueTooLarge:
                return False  # set() of each reports it
        batch = SetBatch(self._guard, keys, values, costs, done, self._settling)
        try:
            sent = self._l3.set_many_then(keys, remotes, batch.replied)
        except BaseException:  # possibly after some were sent: no fence stays open, no reply installs anything
            batch.cancel()
            raise
        if not sent:
            batch.cancel()
        return sent

    def _set_acknowledged(
        self,
        fence: WriteFence,
        value: bytes,
        expires_at: float | None,
        cost: int,
        done: WriteDone,
        error: Exception | None,
    ) -> None:
        installs = error is None and self._guard.may_install_write(fence)
        fence.close()
        if installs:
            try:
                self._local.install(fence.key, value, expires_at, cost=cost)
            except Exception as failure:  # what set() would raise to its caller
                error = failure
        if error is None and not self._local.settled:
            settling = asyncio.get_running_loop().create_task(self._acknowledge_settled(done))
            self._settling.add(settling)
            settling.add_done_callback(self._settling.discard)
            return
        done(error)

    async def _acknowledge_settled(self, done: WriteDone) -> None:
        """Acknowledge once L2's writes waiting in memory are back under their limit, as set() does."""
        try:
            await self._local.settle()
        finally:
            done(None)  # Redis has the value whatever happens here

    async def getset(
        self, key: str, value: object, expires_at: float | None, condition: Condition | None, keep_ttl: bool
    ) -> tuple[bool, object]:
        remote, cost = self._remote_bytes(key, value)
        if remote is None:
            raise UnencodableValue(f"value of {key!r} cannot be stored in L3, so it cannot be written conditionally")
        self._guard.drop(key)
        with self._guard.fences.watch_write(key) as fence:
            stored, previous = await self._l3.set(
                key,
                remote,
                expires_at,
                condition=None if condition is None else _REDIS_CONDITION[condition],
                keep_ttl=keep_ttl,
                get_previous=True,
            )
            if stored and self._guard.may_install_write(fence) and not keep_ttl:
                self._local.install(key, value, expires_at, cost=cost)
        await self._local.settle()
        return stored, None if previous is None else from_remote(previous)

    async def increment(self, key: str, amount: int) -> int:
        self._guard.drop(key)
        with self._guard.fences.watch_write(key) as fence:
            number, expires_at = await self._l3.increment(key, amount)
            if self._guard.may_install_write(fence):
                self._local.install(key, b"%d" % number, expires_at)
        await self._local.settle()
        return number

    async def delete(self, key: str) -> bool:
        had_local = self._guard.drop(key)
        with self._guard.fences.watch_write(key):  # a write of the key that Redis runs after this one keeps no copy
            return await self._l3.delete(key) or had_local

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        self._guard.drop(key)
        with self._guard.fences.watch_write(key):
            return await self._l3.expire_at(key, expires_at)

    async def store_computed(self, key: str, value: object, expires_at: float | None) -> None:
        """``SET NX``: a value another agent wrote meanwhile wins. A failure to reach L3 is logged (the caller
        still gets its value)."""
        remote, cost = self._remote_bytes(key, value)
        if remote is None:
            self._guard.supersede(key)
            self._local.install(key, value, expires_at, cost=cost)
            return
        with self._guard.fences.watch_write(key) as fence:
            try:
                stored, _previous = await self._l3.set(key, remote, expires_at, condition="NX")
            except TierUnavailable as error:
                logger.debug("computed value of %r not stored: %s", key, error)
                return
            if stored and self._guard.may_install_write(fence):
                self._local.install(key, value, expires_at, cost=cost)
        await self._local.settle()


def integer_value(value: object) -> int:
    """The integer a stored value holds, as Redis reads it; raises WrongValueType when it holds none."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        number = parse_integer(value)
        if number is not None:
            return number
    elif isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    raise WrongValueType(_NOT_AN_INTEGER)
