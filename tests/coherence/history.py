"""Histories of operations on shared keys, and the checker of the published consistency model.

Every operation records when it was invoked and when it completed (``time.monotonic()``, one host), what it did
and what it got. Writes of a register (SET, DEL) are *definite* when acknowledged and *indeterminate* when they
failed (the outcome is unknown: they may have been applied, no later than when they failed).

The model (docs/consistency.md): a read may return the value of any write invoked before the read completed, as
long as that write is not *dead* when the read starts. A write is dead once another definite write, invoked after
it completed, was acknowledged more than ``bound`` seconds before the read was invoked. The initial state (no
value) is a write that completed at minus infinity. For counters, no two increments may return the same number
(no lost update), and a read may not return less than an increment acknowledged more than ``bound`` before it.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Operation:
    """One client operation. ``kind``: "set", "delete", "get", "incr"; ``value``: what a set wrote, what a get
    returned or an increment's result; ``ok`` False when it failed (an error reply or a lost connection)."""

    kind: str
    key: str
    invoked: float
    completed: float
    value: bytes | int | None = None
    ok: bool = True
    client: int = 0
    agent: int = 0


@dataclass
class Verdict:
    """What the checker found: violations (each a sentence), and how late the most delayed allowed read was."""

    violations: list[str] = field(default_factory=list)
    reads_checked: int = 0
    stale_reads_within_bound: int = 0
    worst_staleness_seconds: float = 0.0


@dataclass(frozen=True)
class _Write:
    value: bytes | None
    invoked: float
    completed: float
    definite: bool


def check(history: list[Operation], bound: float) -> Verdict:
    """Check every read of ``history`` against the model with staleness ``bound`` (seconds)."""
    verdict = Verdict()
    by_key: dict[str, list[Operation]] = defaultdict(list)
    for operation in history:
        by_key[operation.key].append(operation)
    for key, operations in by_key.items():
        if any(operation.kind == "incr" for operation in operations):
            _check_counter(key, operations, bound, verdict)
        else:
            _check_register(key, operations, bound, verdict)
    return verdict


def _written(operation: Operation) -> bytes | None:
    """The bytes a set wrote; None for a delete."""
    if operation.kind != "set":
        return None
    assert isinstance(operation.value, bytes), operation
    return operation.value


def _check_register(key: str, operations: list[Operation], bound: float, verdict: Verdict) -> None:
    writes = [_Write(None, -math.inf, -math.inf, True)]
    writes += [
        _Write(_written(operation), operation.invoked, operation.completed, operation.ok)
        for operation in operations
        if operation.kind in ("set", "delete")
    ]
    overwrites = _Overwrites([write for write in writes if write.definite])
    by_value: dict[bytes | None, _Candidates] = {}
    for write in writes:
        by_value.setdefault(write.value, _Candidates()).add(write)
    for read in operations:
        if read.kind != "get" or not read.ok:
            continue
        verdict.reads_checked += 1
        candidates = by_value.get(read.value)  # type: ignore[arg-type]
        latest = None if candidates is None else candidates.latest_completed_before(read.completed)
        if latest is None:
            verdict.violations.append(f"{key}: read {read.value!r:.40} at {read.invoked:.3f}, which no write wrote")
            continue
        # The candidate that completed last is overwritten last: it is the read's most favourable explanation.
        lateness = overwrites.lateness(latest, read.invoked)
        if lateness > bound:
            verdict.violations.append(
                f"{key}: read {read.value!r:.40} at {read.invoked:.3f} (agent {read.agent}), overwritten "
                f"{lateness:.3f}s before (bound {bound}s)"
            )
        elif lateness > 0:
            verdict.stale_reads_within_bound += 1
            verdict.worst_staleness_seconds = max(verdict.worst_staleness_seconds, lateness)


class _Candidates:
    """The writes of one value, to find the last-completed one invoked before a time (O(log n))."""

    def __init__(self) -> None:
        self._writes: list[_Write] = []
        self._sorted = True

    def add(self, write: _Write) -> None:
        self._writes.append(write)
        self._sorted = False

    def latest_completed_before(self, moment: float) -> float | None:
        if not self._sorted:
            self._writes.sort(key=lambda write: write.invoked)
            self._invoked = [write.invoked for write in self._writes]
            self._best = list(itertools.accumulate((write.completed for write in self._writes), max))
            self._sorted = True
        count = bisect.bisect_left(self._invoked, moment)
        return self._best[count - 1] if count else None


class _Overwrites:
    """Definite writes by invocation time, with the earliest completion among those invoked after any time."""

    def __init__(self, definite: list[_Write]) -> None:
        ordered = sorted(definite, key=lambda write: write.invoked)
        self._invoked = [write.invoked for write in ordered]
        self._earliest_after = list(itertools.accumulate((write.completed for write in reversed(ordered)), min))[::-1]

    def lateness(self, completed: float, at: float) -> float:
        """How long before ``at`` a write that completed at ``completed`` was overwritten (0: not yet)."""
        first = bisect.bisect_right(self._invoked, completed)
        if first == len(self._invoked):
            return 0.0
        overwritten = self._earliest_after[first]
        return at - overwritten if overwritten < at else 0.0


def _check_counter(key: str, operations: list[Operation], bound: float, verdict: Verdict) -> None:
    results = [
        operation.value
        for operation in operations
        if operation.kind == "incr" and operation.ok and isinstance(operation.value, int)
    ]
    duplicates = {value for value in results if results.count(value) > 1}
    if duplicates:
        verdict.violations.append(
            f"{key}: increments returned the same numbers {sorted(duplicates)[:5]} (lost updates)"
        )
    acknowledged = sorted(
        (operation.completed, operation.value)
        for operation in operations
        if operation.kind == "incr" and operation.ok and isinstance(operation.value, int)
    )
    completions = [completed for completed, _value in acknowledged]
    highest = list(itertools.accumulate((int(value) for _completed, value in acknowledged), max))
    for read in operations:
        if read.kind != "get" or not read.ok:
            continue
        verdict.reads_checked += 1
        number = int(read.value) if isinstance(read.value, bytes) else 0
        count = bisect.bisect_left(completions, read.invoked - bound)
        floor = highest[count - 1] if count else 0
        if number < floor:
            verdict.violations.append(f"{key}: read {number} at {read.invoked:.3f} though {floor} was acknowledged")
