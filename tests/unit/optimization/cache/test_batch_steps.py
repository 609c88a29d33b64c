"""The batch forms of the write-through steps (a pipeline's or a turn's SETs) do exactly what the per-key steps do,
one key after another in the same order.

A batch of SETs opens its fences with :meth:`KeyGuard.open_writes`, closes them with :meth:`KeyGuard.close_writes`
and installs the values with :meth:`LocalCopies.install_many`; single writes use ``supersede``/``discard``,
``watch_write(...).open()``, ``may_install_write`` + ``close`` and ``install``. Each property runs one random
program both ways on two fresh copies of the same state and compares every decision and the state after each step.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from memories.errors import WrongValueType
from memories.optimization.cache import fences as fences_module
from memories.optimization.cache.disk_tier import DiskTier
from memories.optimization.cache.fences import Fence, Fences, WriteFence
from memories.optimization.cache.key_guard import KeyGuard
from memories.optimization.cache.local_copies import LocalCopies
from memories.optimization.cache.memory_tier import MemoryTier
from memories.optimization.cache.policies import create_policy
from memories.optimization.cache.write_batch import SetBatch

KEYS = ["a", "b", "c"]
keys = st.sampled_from(KEYS)

#: One step of a program over the fences of a guard: open a read fence, a single write, a batch of writes (a key
#: may repeat), supersede a key, close one open fence (by position among the open ones), close a batch of open
#: write fences (by position among the open writes, each once), or lose trust in local copies for the next closes.
steps = st.one_of(
    st.tuples(st.just("read"), keys),
    st.tuples(st.just("write"), keys),
    st.tuples(st.just("open_writes"), st.lists(keys, min_size=1, max_size=5)),
    st.tuples(st.just("supersede"), keys),
    st.tuples(st.just("close"), st.integers(0, 20)),
    st.tuples(st.just("close_writes"), st.lists(st.integers(0, 20), min_size=1, max_size=5, unique=True)),
    st.tuples(st.just("trusted"), st.booleans()),
)


def new_guard() -> KeyGuard:
    local = LocalCopies(MemoryTier(1 << 20, create_policy("lru"), time.monotonic), None)
    return KeyGuard(local, remember_absence=True)


class Side:
    """One guard driven either key by key (``batched`` False) or through the batch forms."""

    def __init__(self, batched: bool) -> None:
        self.batched = batched
        self.guard = new_guard()
        self.trust = True
        self.guard.trusted = lambda: self.trust
        self.open: list[Fence] = []  # in the order opened

    def run(self, step: tuple[str, object]) -> object:
        """Run ``step``; returns its decisions (the install verdicts of what it closed), or None."""
        kind, argument = step
        guard = self.guard
        if kind == "read":
            self.open.append(guard.fences.watch(str(argument)).open())
        elif kind == "write":
            guard.discard(str(argument))
            self.open.append(guard.fences.watch_write(str(argument)).open())
        elif kind == "open_writes":
            names = list(argument)  # type: ignore[call-overload]
            if self.batched:
                self.open += guard.open_writes(names)
            else:
                for name in names:
                    guard.discard(name)
                    self.open.append(guard.fences.watch_write(name).open())
        elif kind == "supersede":
            guard.supersede(str(argument))
        elif kind == "close" and self.open:
            fence = self.open.pop(int(argument) % len(self.open))  # type: ignore[call-overload]
            verdict = guard.may_install_write(fence) if isinstance(fence, WriteFence) else guard.may_install(fence)
            fence.close()
            return verdict
        elif kind == "close_writes":
            writes = [fence for fence in self.open if isinstance(fence, WriteFence)]
            positions = dict.fromkeys(index % len(writes) for index in argument) if writes else {}  # type: ignore[attr-defined]
            chosen = [writes[position] for position in positions]
            for fence in chosen:
                self.open.remove(fence)
            if self.batched:
                return guard.close_writes(chosen)
            verdicts = []
            for fence in chosen:
                verdicts.append(guard.may_install_write(fence))
                fence.close()
            return verdicts
        elif kind == "trusted":
            self.trust = bool(argument)
        return None

    def state(self) -> list[tuple[str, bool, bool]]:
        """Every open fence: its key, whether it is a write, whether it was superseded."""
        return [(fence.key, fence.writes, fence.superseded) for fence in self.open]


@contextlib.contextmanager
def python_batch_forms() -> Iterator[None]:
    """Fences.open_writes and close_writes run their Python bodies (the reference of ``_fences.c``)."""
    with (
        mock.patch.object(fences_module, "_compiled_open_writes", None),
        mock.patch.object(fences_module, "_compiled_close_writes", None),
    ):
        yield


@settings(max_examples=300, deadline=None)
@example([("write", "a"), ("supersede", "a"), ("close_writes", [0])])  # a write superseded while alone on its key
@example([("open_writes", ["a", "a"]), ("read", "a"), ("close_writes", [1, 0])])
@given(st.lists(steps, max_size=40))
def test_opening_and_closing_write_fences_in_a_batch_decides_as_key_by_key(program: list[tuple[str, object]]) -> None:
    """The batch forms as built (compiled when ``_fences`` is) and their Python bodies, against single steps."""
    one_by_one, batched, batched_in_python = Side(batched=False), Side(batched=True), Side(batched=True)
    for step in program:
        expected = one_by_one.run(step)
        assert batched.run(step) == expected, step
        with python_batch_forms():
            assert batched_in_python.run(step) == expected, step
        for side in (batched, batched_in_python):
            assert side.state() == one_by_one.state(), step
            assert len(side.guard.fences) == len(one_by_one.guard.fences)
        for side in (one_by_one, batched, batched_in_python):  # a key's fence alone, or a list of two or more
            waiting = side.guard.fences._open.values()
            assert all(isinstance(what, Fence) or (type(what) is list and len(what) >= 2) for what in waiting)
    for side in (one_by_one, batched, batched_in_python):  # every fence closed: nothing stays registered
        for fence in side.open:
            fence.close()
        assert len(side.guard.fences) == 0


def test_open_writes_drops_copies_and_the_keys_remembered_absent() -> None:
    guard = new_guard()
    guard.local.install("a", b"old", None)
    assert guard.absent is not None
    guard.remember_absent("b")
    reading = guard.fences.watch("a").open()
    fences = guard.open_writes(["a", "b", "a"])
    assert reading.superseded
    assert [fence.superseded for fence in fences] == [True, False, False]  # the repeated key's first write
    assert guard.local.current("a") is guard.local.current("missing")  # MISSING: the copy is gone
    assert "b" not in guard.absent
    first_a, only_b, second_a = fences
    # The first write of "a" still waits and may reach Redis after the second: the second installs nothing.
    assert guard.close_writes([second_a]) == [False]
    assert guard.close_writes([first_a, only_b]) == [False, True]  # the first was superseded by the second
    assert guard.close_writes(guard.open_writes(["a"])) == [True]
    reading.close()
    assert len(guard.fences) == 0


class _KeyThatCannotBeHashed(str):
    """A key whose hash raises: opening its fence fails after the keys before it were opened."""

    __slots__ = ()

    def __hash__(self) -> int:
        raise RuntimeError("this key cannot be hashed")


@pytest.mark.parametrize("bodies", ["as built", "python"])
def test_open_writes_that_fails_part_way_leaves_no_fence_of_its_own_open(bodies: str) -> None:
    """A fence that no write will close would keep every later write of its key from becoming the local copy."""
    owner = Fences()
    alone = owner.watch("b").open()
    first, second = owner.watch("c").open(), owner.watch("c").open()
    listed = owner._open["c"]
    keys = ["a", "b", "a", "c", _KeyThatCannotBeHashed("z")]
    with python_batch_forms() if bodies == "python" else contextlib.nullcontext():
        with pytest.raises(RuntimeError, match="cannot be hashed"):
            owner.open_writes(keys)
        assert owner._open == {"b": alone, "c": listed} and owner._open["c"] is listed
        assert listed == [first, second]
        assert alone.superseded and first.superseded and second.superseded  # superseding stays: always safe
        assert owner.close_writes(owner.open_writes(["a"])) == [True]  # no fence of the failed call is earlier
    for fence in (alone, first, second):
        fence.close()
    assert len(owner) == 0


#: A batch of write-through values: keys that may repeat, values of 0-300 bytes (L1 holds three of 300 bytes).
values = st.binary(max_size=300) | st.builds(bytes, st.integers(290, 300))
local_keys = keys | st.sampled_from(["d", "e", "f"])
batches = st.lists(st.tuples(local_keys, values), max_size=8)
#: What happened before the batch: installs, and (value None) deletes that leave room in L1 while L2 keeps what L1
#: evicted earlier.
histories = st.lists(st.tuples(local_keys, st.none() | values), max_size=12)


def new_local(directory: Path | None) -> LocalCopies:
    l1 = MemoryTier(1600, create_policy("lru"), time.monotonic)
    l2 = None if directory is None else DiskTier(directory, 1 << 20, create_policy("lru"), time.time)
    return LocalCopies(l1, l2)


async def snapshot(local: LocalCopies) -> tuple[list[tuple[str, bytes]], int, int, dict[str, bytes]]:
    """L1's entries with their values, its bytes and evictions, and L2's payloads."""
    l1 = local.l1
    in_l2: dict[str, bytes] = {}
    if local.l2 is not None:
        for key in sorted(set(KEYS) | {"d", "e", "f"}):
            stored = await local.l2.get(key, count=False)
            if stored is not None:
                in_l2[key] = stored.payload
    held = sorted((key, entry.value) for key, entry in l1.items())
    return held, l1.bytes_used, l1.counters.evictions, in_l2  # type: ignore[return-value]


async def install_both_ways(
    before: list[tuple[str, bytes | None]], batch: list[tuple[str, bytes]], l2: bool, dropped: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        one_by_one = new_local(Path(one) if l2 else None)
        batched = new_local(Path(other) if l2 else None)
        for local in (one_by_one, batched):
            for key, value in before:
                if value is None:
                    local.discard(key)
                else:
                    local.install(key, value, None)
        names = [key for key, _value in batch]
        values = [value for _key, value in batch]
        costs = batched.l1.costs(names, values)
        assert costs == [one_by_one.l1.cost(key, value) for key, value in batch]
        for key, value, cost in zip(names, values, costs, strict=True):
            one_by_one.install(key, value, None, cost=cost)
        assert batched.install_many(names, values, costs) == [None] * len(batch)
        assert await snapshot(batched) == await snapshot(one_by_one)
        # Dropping copies for a batch of writes (keys held or not, repeated or not) as dropping each in turn.
        for key in dropped:
            one_by_one.discard(key)
        batched.discard_many(dropped)
        assert await snapshot(batched) == await snapshot(one_by_one)
        assert len(batched) == len(one_by_one)
        # The same entries are evicted next, in the same order: the LRU order matches too.
        evicted = [local.l1.put("filler", b"x" * 1000, None).entries for local in (one_by_one, batched)]
        assert [key for key, _entry in evicted[1]] == [key for key, _entry in evicted[0]]
        for local in (one_by_one, batched):
            if local.l2 is not None:
                await local.l2.close()


@settings(max_examples=300, deadline=None)
@example(  # "a" went to L2 when L1 evicted it, L1 has room again: the batch's new "a" must replace L2's copy
    before=[(key, bytes(300)) for key in "abcd"] + [("c", None), ("d", None)],
    batch=[("a", b"new")],
    l2=True,
    dropped=["a", "b", "a"],
)
@given(before=histories, batch=batches, l2=st.booleans(), dropped=st.lists(local_keys, max_size=6))
def test_installing_a_batch_leaves_l1_and_l2_as_installing_each_in_order(
    before: list[tuple[str, bytes | None]], batch: list[tuple[str, bytes]], l2: bool, dropped: list[str]
) -> None:
    """And dropping a batch's copies afterwards leaves them as dropping each in turn."""
    asyncio.run(install_both_ways(before, batch, l2, dropped))


def test_delete_many_removes_each_and_counts_its_bytes() -> None:
    l1 = MemoryTier(1 << 20, create_policy("lru"), time.monotonic)
    for key in KEYS:
        l1.put(key, b"v" * 10, None)
    kept = l1.cost("b", b"v" * 10)
    l1.delete_many(["a", "missing", "c", "a"])
    assert [key for key, _entry in l1.items()] == ["b"]
    assert l1.bytes_used == kept


async def answer_batch(keys: list[str], changed: list[str], part: int) -> tuple[object, ...]:
    """A batch of SETs of ``keys`` (no L2) whose ``changed`` keys are written or invalidated while it waits, answered
    by Redis in parts of ``part`` SETs: what L1 holds after, the outcomes reported, the fences left open."""
    guard = new_guard()
    values = [b"%d" % index for index in range(len(keys))]
    reported: list[list[Exception | None]] = []
    batch = SetBatch(guard, keys, values, guard.local.l1.costs(keys, values), reported.append, set())
    for key in changed:
        guard.drop(key)
    indexes = list(range(len(keys)))
    for start in range(0, len(keys), part):
        answered = indexes[start : start + part]
        batch.replied(answered, [None] * len(answered))
    held = sorted((key, entry.value) for key, entry in guard.local.l1.items())
    return held, reported, len(guard.fences)


@settings(max_examples=300, deadline=None)
@example(keys=["a", "b", "a"], changed=["b"], part=1)
@given(
    keys=st.lists(local_keys, min_size=1, max_size=8),
    changed=st.lists(local_keys, max_size=3),
    part=st.integers(1, 8),
)
def test_a_batch_answered_at_once_installs_what_it_installs_answered_in_parts(
    keys: list[str], changed: list[str], part: int
) -> None:
    """SetBatch.replied takes the batch's own lists when every SET is answered at once (nearly always): the same
    copies, outcomes and fences as replies that arrive in parts (a Cluster's nodes, or redirections)."""
    at_once = asyncio.run(answer_batch(keys, changed, len(keys)))
    assert asyncio.run(answer_batch(keys, changed, part)) == at_once
    held, reported, still_open = at_once
    assert reported == [[None] * len(keys)] and still_open == 0
    last = {key: b"%d" % index for index, key in enumerate(keys)}  # a key written twice: only its last SET's value
    assert held == sorted((key, value) for key, value in last.items() if key not in changed)


def test_a_batch_whose_replies_cannot_be_taken_is_abandoned_with_the_error_and_no_fence_open() -> None:
    """No memory left (or a defect) while a part of a batch's replies is taken: every SET not reported failed yet
    gets that error at once (its outcome is unknown), no fence stays open, and the replies still to come are
    ignored: no client waits for an answer that would never come."""
    guard = new_guard()
    keys, values = ["a", "b", "c", "d"], [b"1", b"2", b"3", b"4"]
    reported: list[list[Exception | None]] = []
    batch = SetBatch(guard, keys, values, guard.local.l1.costs(keys, values), reported.append, set())
    refused = WrongValueType("WRONGTYPE refused")
    batch.replied([0, 1], [None, refused])  # one node's part: "a" stored (and installed), "b" refused
    failure = MemoryError()
    with mock.patch.object(guard.local, "install_many", side_effect=failure):
        batch.replied([2], [None])
    assert reported == [[failure, refused, failure, failure]]
    assert len(guard.fences) == 0
    batch.replied([3], [None])  # the last part's reply, after all: ignored
    assert len(reported) == 1
    assert guard.local.current("d") is guard.local.current("missing")  # MISSING: nothing installed
    assert guard.close_writes(guard.open_writes(["c"])) == [True]  # the key's later writes install again
