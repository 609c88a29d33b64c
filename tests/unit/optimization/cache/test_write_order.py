"""Writes of one key that Redis executes in another order than this agent issued them never leave a local copy
that L3 does not hold.

Redis can execute two writes of one agent out of their issue order: a command retried after a MOVED or ASK, or one
sent once a reconnection completes, reaches Redis after a command issued later but sent at once. The writes here go
through the ways a write leaves for L3 (``set``, ``set_then``, ``set_many_then``, ``delete``) to an L3 that executes
them when, and in the order, the test says; after every step the local copy of each key is absent or the value L3
holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.cache.key_guard import KeyGuard
from memories.optimization.cache.keys import MISSING
from memories.optimization.cache.local_copies import LocalCopies
from memories.optimization.cache.memory_tier import MemoryTier
from memories.optimization.cache.policies import create_policy
from memories.optimization.cache.writes import SharedWrites

KEYS = ["key-0", "key-1"]


@dataclass
class OrderedByTestL3:
    """The part of the remote tier that writes use: each write waits until :meth:`execute` runs it."""

    waiting: list[tuple[str, bytes | None, Callable[[], None]]] = field(default_factory=list)  # None: a DEL
    stored: dict[str, bytes] = field(default_factory=dict)

    async def delete(self, key: str) -> bool:
        executed = asyncio.get_running_loop().create_future()
        self.waiting.append((key, None, lambda: executed.set_result(None)))
        await executed
        return True

    async def set(self, key: str, data: bytes, expires_at: float | None, **_options: object) -> tuple[bool, None]:
        executed = asyncio.get_running_loop().create_future()
        self.waiting.append((key, data, lambda: executed.set_result(None)))
        await executed
        return True, None

    def set_then(self, key: str, data: bytes, expires_at: float | None, done: Callable[[None], None]) -> bool:
        self.waiting.append((key, data, lambda: done(None)))
        return True

    def set_many_then(self, keys: list[str], datas: list[bytes], done: Callable[[list[int], list[None]], None]) -> bool:
        for index, (key, data) in enumerate(zip(keys, datas, strict=True)):
            self.waiting.append((key, data, lambda index=index: done([index], [None])))  # type: ignore[misc]
        return True

    def execute(self, position: int) -> None:
        """Redis executes the waiting write at ``position`` now (its reply is handled at once or on the next step)."""
        key, data, reply = self.waiting.pop(position)
        if data is None:
            self.stored.pop(key, None)
        else:
            self.stored[key] = data
        reply()


def shared_writes(l3: OrderedByTestL3) -> tuple[SharedWrites, KeyGuard]:
    local = LocalCopies(MemoryTier(1 << 20, create_policy("lru"), time.monotonic), None)
    guard = KeyGuard(local, remember_absence=False)
    return SharedWrites(guard, l3, lambda *_arguments: None), guard  # type: ignore[arg-type]


def assert_copies_match_l3(guard: KeyGuard, l3: OrderedByTestL3) -> None:
    for key in KEYS:
        copy = guard.local.current(key)
        if copy is not MISSING:
            assert isinstance(copy, tuple)
            assert copy[0] == l3.stored.get(key), f"{key}: local copy {copy[0]!r}, L3 holds {l3.stored.get(key)!r}"


async def run(steps: list[tuple[str, int]]) -> None:
    l3 = OrderedByTestL3()
    writes, guard = shared_writes(l3)
    tasks: list[asyncio.Task[object]] = []
    for number, (step, choice) in enumerate(steps):
        value = b"value-%d" % number
        key = KEYS[choice % len(KEYS)]
        if step == "set":
            tasks.append(asyncio.get_running_loop().create_task(writes.set(key, value, None)))
        elif step == "set_then":
            assert writes.set_then(key, value, None, lambda _error: None)
        elif step == "delete":
            tasks.append(asyncio.get_running_loop().create_task(writes.delete(key)))
        elif step == "set_many_then":
            other = KEYS[(choice + 1) % len(KEYS)]
            assert writes.set_many_then([key, other], [value, value + b"+"], lambda _outcomes: None)
        elif l3.waiting:
            l3.execute(choice % len(l3.waiting))
        for _ in range(3):  # let an awaited set() take its reply
            await asyncio.sleep(0)
        assert_copies_match_l3(guard, l3)
    while l3.waiting:
        l3.execute(0)
        for _ in range(3):
            await asyncio.sleep(0)
        assert_copies_match_l3(guard, l3)
    await asyncio.gather(*tasks)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set", "set_then", "set_many_then", "delete", "execute", "execute"]), st.integers(0, 7)
        ),
        max_size=30,
    )
)
def test_writes_executed_in_any_order_leave_no_copy_that_l3_does_not_hold(steps: list[tuple[str, int]]) -> None:
    asyncio.run(run(steps))


def test_a_later_write_executed_first_is_not_kept_over_the_earlier_one_that_lands_after_it() -> None:
    """The case the rule exists for: set(v1) waits (say, for a reconnection), set_then(v2) reaches Redis first."""

    async def scenario() -> None:
        l3 = OrderedByTestL3()
        writes, guard = shared_writes(l3)
        first = asyncio.get_running_loop().create_task(writes.set("key-0", b"v1", None))
        await asyncio.sleep(0)
        assert writes.set_then("key-0", b"v2", None, lambda _error: None)
        l3.execute(1)  # v2 first
        assert guard.local.current("key-0") is MISSING  # v1 is still on its way: v2 may not stay what L3 holds
        l3.execute(0)
        await first
        assert l3.stored["key-0"] == b"v1"
        assert guard.local.current("key-0") is MISSING

    asyncio.run(scenario())
