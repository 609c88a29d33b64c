"""Read-your-writes under every interleaving hypothesis finds: operations run as concurrent tasks while L2's file
writes and reads complete when the test says so (in any order for reads, in issue order for writes, as the
writer thread does), against a model of what each read may return.

A read may return the value of the last write acknowledged before it started, a write that was acknowledged since
then only "maybe" (a computed value, which is not stored when the key was written meanwhile), or a write running
at the same time as the read. Never anything older, never nothing while a value is present: L2 is large enough that
nothing is evicted for good, so every demotion must be found again.
"""

from __future__ import annotations

import asyncio
import builtins
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from memories.optimization.cache import CacheManager
from memories.optimization.cache.disk_tier import DiskTier

KEYS = ["key-0", "key-1"]
L1_BYTES = 1_300  # one or two values: nearly every write demotes the other key
L2_BYTES = 10_000_000


class ManualExecutor(Executor):
    """Runs submitted jobs only when the test asks, in any order it chooses."""

    def __init__(self) -> None:
        self.jobs: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.jobs.append((future, fn, args))
        return future

    def run(self, index: int = 0) -> None:
        future, fn, args = self.jobs[index]
        del self.jobs[index]
        try:
            future.set_result(fn(*args))
        except BaseException as error:
            future.set_exception(error)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        while self.jobs:
            self.run()


@dataclass
class Write:
    value: bytes | None
    invoked: int
    acknowledged: int | None = None
    maybe: bool = False  # a computed value or a conditional write: it may not have been stored


@dataclass
class Operation:
    kind: str
    key: str
    task: asyncio.Task[Any]
    invoked: int
    write: Write | None = None
    completed: int | None = None  # the tick at which the task finished (set by its done callback, in order)
    checked: bool = False


@dataclass
class KeyHistory:
    writes: list[Write] = field(default_factory=list)


class Harness:
    """A cache with L1 and a large L2 whose file reads and writes run when the test says, on an event loop the
    test steps itself."""

    def __init__(self, l1_bytes: int = L1_BYTES) -> None:
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp())
        self.writer = ManualExecutor()
        self.reader = ManualExecutor()
        self.cache = CacheManager(l1_bytes, L2_BYTES, l2_path=self.directory)
        local = self.cache._local  # the test drives L2's executors itself
        assert local.l2 is not None
        local.l2 = DiskTier(
            local.l2.root, L2_BYTES, local.l2._policy, local.l2._clock, writer=self.writer, reader=self.reader
        )

    def step(self, turns: int = 1) -> None:
        for _ in range(turns):
            self.loop.run_until_complete(asyncio.sleep(0))

    def run(self, coroutine: Any) -> Any:
        """Run ``coroutine`` to its end, landing every file operation it waits for."""
        task = self.loop.create_task(coroutine)
        self.drain(task.done)
        return task.result()

    def drain(self, until: Callable[[], bool]) -> None:
        for _ in range(10_000):
            if until() and not self.writer.jobs and not self.reader.jobs:
                return
            while self.writer.jobs:
                self.writer.run(0)
            while self.reader.jobs:
                self.reader.run(0)
            self.step()
        raise AssertionError("operations did not finish")

    def close(self) -> None:
        self.run(self.cache.close())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def in_l2_only(harness: Harness, key: str, value: bytes) -> None:
    """Put ``value`` under ``key`` and push it out of L1 into a landed L2 file."""
    harness.run(harness.cache.set(key, value))
    harness.run(harness.cache.set("filler", b"f" * 700))
    assert harness.cache.get_nowait(key) is CacheManager.MISSING
    harness.drain(lambda: True)


def test_a_fill_read_before_a_write_is_not_installed_after_it() -> None:
    harness = Harness()
    in_l2_only(harness, "key", b"old" * 100)
    reading = harness.loop.create_task(harness.cache.get("key"))
    harness.step(3)
    assert harness.reader.jobs, "the read of L2's file should be waiting"
    harness.reader.run(0)  # the file still holds the old value...
    harness.run(harness.cache.set("key", b"new" * 10))  # ...while a write is acknowledged
    harness.drain(reading.done)
    assert reading.result() == b"old" * 100  # concurrent with the write: either value is right
    assert harness.run(harness.cache.get("key")) == b"new" * 10
    harness.close()


def test_a_read_racing_a_write_that_moves_the_value_into_l1_still_finds_a_value() -> None:
    harness = Harness()
    in_l2_only(harness, "key", b"old" * 100)
    reading = harness.loop.create_task(harness.cache.get("key"))
    harness.step(3)
    assert harness.reader.jobs, "the read of L2's file should be waiting"
    writing = harness.loop.create_task(harness.cache.set("key", b"new" * 10))  # into L1; L2's file goes
    harness.step(3)
    assert writing.done()
    harness.writer.run(0)  # the unlink lands before the read runs: the read finds no file
    harness.drain(reading.done)
    assert reading.result() in (b"old" * 100, b"new" * 10)
    harness.close()


def test_a_computed_value_does_not_replace_a_write_made_while_computing() -> None:
    harness = Harness()
    computing = asyncio.Event()

    async def slow_compute() -> bytes:
        await computing.wait()
        return b"computed"

    getting = harness.loop.create_task(harness.cache.get("key", slow_compute))
    harness.step(3)
    harness.run(harness.cache.set("key", b"written"))
    computing.set()
    harness.drain(getting.done)
    assert getting.result() == b"computed"  # the caller gets what it computed...
    assert harness.run(harness.cache.get("key")) == b"written"  # ...but the write stays
    harness.close()


def test_a_reader_after_a_write_does_not_join_a_lookup_started_before_it() -> None:
    harness = Harness()
    in_l2_only(harness, "key", b"old" * 100)
    early = harness.loop.create_task(harness.cache.get("key"))
    harness.step(3)
    assert harness.reader.jobs, "the early lookup should be reading L2's file"
    writing = harness.loop.create_task(harness.cache.set("key", b"big" * 400))  # too large for L1: L2 only
    harness.step(3)
    assert writing.done()  # acknowledged; its file write has not landed
    late = harness.loop.create_task(harness.cache.get("key"))
    harness.step(3)
    harness.reader.run(0)  # the early lookup reads the old file
    harness.drain(lambda: early.done() and late.done())
    assert early.result() == b"old" * 100
    assert late.result() == b"big" * 400
    harness.close()


def test_an_entry_on_its_way_to_l2_is_read_from_memory() -> None:
    harness = Harness()
    harness.run(harness.cache.set("key", b"value" * 50))
    demoting = harness.loop.create_task(harness.cache.set("filler", b"f" * 700))
    harness.step(3)
    assert demoting.done() and harness.writer.jobs  # "key" went to L2, but its file is not written yet
    reading = harness.loop.create_task(harness.cache.get("key"))
    harness.step(3)
    assert reading.done() and reading.result() == b"value" * 50
    harness.close()


class Interleavings(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.harness = Harness()
        self.loop = self.harness.loop
        self.cache = self.harness.cache
        self.writer = self.harness.writer
        self.reader = self.harness.reader
        self.start_task = self.loop.create_task(self.cache.start())
        self.clock = 0
        self.histories = {key: KeyHistory() for key in KEYS}
        self.operations: list[Operation] = []
        self.counter = 0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def launch(self, kind: str, key: str, coroutine: Any, write: Write | None = None) -> None:
        invoked = self.tick()
        if write is not None:
            write.invoked = invoked
            self.histories[key].writes.append(write)
        operation = Operation(kind, key, self.loop.create_task(coroutine), invoked, write)
        operation.task.add_done_callback(lambda _task: setattr(operation, "completed", self.tick()))
        self.operations.append(operation)

    def value(self, key: str) -> bytes:
        self.counter += 1
        return f"{key}:{self.counter}:".encode() + b"v" * (200 + self.counter * 37 % 400)

    @rule(key=st.sampled_from(KEYS))
    def set(self, key: str) -> None:
        value = self.value(key)
        self.launch("set", key, self.cache.set(key, value), Write(value, 0))

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        self.launch("delete", key, self.cache.delete(key), Write(None, 0))

    @rule(key=st.sampled_from(KEYS))
    def get(self, key: str) -> None:
        self.launch("get", key, self.cache.get(key))

    @rule(key=st.sampled_from(KEYS))
    def get_or_compute(self, key: str) -> None:
        value = self.value(key)
        self.launch("get", key, self.cache.get(key, lambda: value), Write(value, 0, maybe=True))

    @rule(key=st.sampled_from(KEYS))
    def set_if_absent(self, key: str) -> None:
        value = self.value(key)
        self.launch("set_nx", key, self.cache.set(key, value, condition="absent"), Write(value, 0, maybe=True))

    @rule(steps=st.integers(1, 4))
    def run_loop(self, steps: int) -> None:
        self.harness.step(steps)

    @precondition(lambda self: self.writer.jobs)
    @rule()
    def land_a_write(self) -> None:
        self.writer.run(0)

    @precondition(lambda self: self.reader.jobs)
    @rule(data=st.data())
    def finish_a_read(self, data: st.DataObject) -> None:
        self.reader.run(data.draw(st.integers(0, len(self.reader.jobs) - 1)))

    def allowed(self, operation: Operation, completed: int) -> builtins.set[bytes | None]:  # the rule set() shadows set
        writes = [write for write in self.histories[operation.key].writes if write is not operation.write]
        definite = [
            w for w in writes if not w.maybe and w.acknowledged is not None and w.acknowledged < operation.invoked
        ]
        last = max(definite, key=lambda w: w.acknowledged or 0, default=None)
        since = 0 if last is None else last.acknowledged or 0
        allowed: builtins.set[bytes | None] = {None if last is None else last.value}
        for write in writes:
            acknowledged_after_last = write.acknowledged is not None and since < write.acknowledged < operation.invoked
            concurrent = write.invoked < completed and (
                write.acknowledged is None or write.acknowledged > operation.invoked
            )
            if (write.maybe and acknowledged_after_last) or concurrent:
                allowed.add(write.value)
        return allowed

    @invariant()
    def every_completed_read_returned_an_allowed_value(self) -> None:
        finished = [
            operation for operation in self.operations if operation.completed is not None and not operation.checked
        ]
        for operation in finished:  # writes first: a read is judged against every write acknowledged before it
            operation.checked = True
            if operation.write is not None:
                operation.write.acknowledged = operation.completed
                if operation.kind == "set_nx" and operation.task.result() is False:
                    self.histories[operation.key].writes.remove(operation.write)  # it wrote nothing
        for operation in finished:
            completed = operation.completed or 0
            result = operation.task.result()
            if operation.kind == "get":
                allowed = self.allowed(operation, completed)
                if operation.write is not None and result == operation.write.value:
                    continue  # its own computed value: the miss path ran
                assert result in allowed, f"{operation.key}: read {result!r:.40}, allowed {sorted(map(repr, allowed))}"

    def teardown(self) -> None:
        self.harness.drain(lambda: all(operation.task.done() for operation in self.operations))
        self.every_completed_read_returned_an_allowed_value()
        self.harness.close()


Interleavings.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestInterleavings = pytest.mark.slow(Interleavings.TestCase)
