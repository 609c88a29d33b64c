"""The history checker finds what it must: stale reads past the bound, values nobody wrote, lost increments —
and accepts what the model allows (concurrent writes, reads within the bound, unknown outcomes)."""

from __future__ import annotations

from tests.coherence.history import Operation, check

BOUND = 1.0


def write(value: bytes, invoked: float, completed: float, ok: bool = True) -> Operation:
    return Operation("set", "k", invoked, completed, value, ok)


def read(value: bytes | None, invoked: float, completed: float | None = None) -> Operation:
    return Operation("get", "k", invoked, invoked + 0.001 if completed is None else completed, value)


def test_a_read_of_an_overwritten_value_past_the_bound_is_a_violation() -> None:
    history = [write(b"v1", 0, 1), write(b"v2", 2, 3), read(b"v1", 4.5)]
    assert len(check(history, BOUND).violations) == 1


def test_a_read_of_an_overwritten_value_within_the_bound_is_allowed_and_counted() -> None:
    verdict = check([write(b"v1", 0, 1), write(b"v2", 2, 3), read(b"v1", 3.5)], BOUND)
    assert verdict.violations == [] and verdict.stale_reads_within_bound == 1
    assert 0.49 < verdict.worst_staleness_seconds < 0.51


def test_a_read_concurrent_with_the_write_may_return_either_value() -> None:
    history = [write(b"v1", 0, 1), write(b"v2", 2, 3), read(b"v1", 2.5, 10), read(b"v2", 2.5, 10)]
    assert check(history, BOUND).violations == []


def test_a_value_nobody_wrote_or_from_the_future_is_a_violation() -> None:
    assert len(check([write(b"v1", 0, 1), read(b"forged", 2)], BOUND).violations) == 1
    assert len(check([read(b"v1", 0, 0.5), write(b"v1", 1, 2)], BOUND).violations) == 1


def test_deletes_and_the_initial_absence() -> None:
    assert check([read(None, 0)], BOUND).violations == []
    assert len(check([write(b"v1", 0, 1), read(None, 5)], BOUND).violations) == 1
    deleted = [write(b"v1", 0, 1), Operation("delete", "k", 2, 3), read(None, 5), read(b"v1", 3.2)]
    assert check(deleted, BOUND).violations == []
    assert len(check([*deleted, read(b"v1", 6)], BOUND).violations) == 1


def test_a_failed_write_may_or_may_not_have_happened() -> None:
    history = [write(b"v1", 0, 1), write(b"maybe", 2, 3, ok=False), read(b"maybe", 10), read(b"v1", 11)]
    assert check(history, BOUND).violations == []


def test_counters_lost_updates_and_reads_below_an_acknowledged_increment() -> None:
    incr = [Operation("incr", "c", 0, 1, 1), Operation("incr", "c", 0, 1, 2), Operation("incr", "c", 0, 1, 2)]
    assert any("lost updates" in violation for violation in check(incr, BOUND).violations)
    reads = [
        Operation("incr", "c", 0, 1, 1),
        Operation("get", "c", 5, 5.1, b"0"),
        Operation("get", "c", 1.5, 1.6, b"0"),
    ]
    assert len(check(reads, BOUND).violations) == 1
