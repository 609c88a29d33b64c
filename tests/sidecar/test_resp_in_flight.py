"""The bookkeeping of commands in flight on one connection: which may start, and replies in pipeline order."""

from __future__ import annotations

from memories.sidecar.resp.in_flight import MAX_IN_FLIGHT, InFlight, WaitBudget, one_key


def test_one_key_commands_are_recognised_in_any_case() -> None:
    assert one_key([b"SET", b"k", b"v"]) == b"k"
    assert one_key([b"get", b"k"]) == b"k"
    assert one_key([b"Incr", b"k"]) == b"k"
    assert one_key([b"DEL", b"k"]) == b"k"
    assert one_key([b"DEL", b"k", b"j"]) is None
    assert one_key([b"MGET", b"k"]) is None
    assert one_key([b"FLUSHALL"]) is None
    assert one_key([b"GET"]) is None


def test_replies_leave_in_pipeline_order_whatever_order_commands_finish_in() -> None:
    in_flight = InFlight(WaitBudget(limit=1000))
    first = in_flight.start([b"SET", b"a", b"1"])
    assert in_flight.may_start([b"GET", b"b"])
    second = in_flight.start([b"GET", b"b"])
    in_flight.add_ready(b"+PONG\r\n")
    assert in_flight.finish(second, b"$1\r\n2\r\n") == []
    assert in_flight.finish(first, b"+OK\r\n") == [b"+OK\r\n", b"$1\r\n2\r\n", b"+PONG\r\n"]
    assert not in_flight


def test_a_key_in_flight_blocks_its_next_command_until_it_finishes() -> None:
    in_flight = InFlight(WaitBudget(limit=1000))
    write = in_flight.start([b"SET", b"a", b"1"])
    assert not in_flight.may_start([b"GET", b"a"])
    assert not in_flight.may_start([b"del", b"a"])
    in_flight.finish(write, b"+OK\r\n")
    assert in_flight.may_start([b"GET", b"a"])


def test_other_commands_wait_for_all_and_hold_all() -> None:
    in_flight = InFlight(WaitBudget(limit=1000))
    write = in_flight.start([b"SET", b"a", b"1"])
    assert not in_flight.may_start([b"MGET", b"b"])
    assert not in_flight.may_start([b"SELECT", b"0"])
    in_flight.finish(write, b"+OK\r\n")
    flush = in_flight.start([b"FLUSHALL"])
    assert not in_flight.may_start([b"GET", b"b"])
    in_flight.finish(flush, b"+OK\r\n")
    assert in_flight.may_start([b"GET", b"b"])


def test_at_most_max_in_flight_wait_at_once() -> None:
    in_flight = InFlight(WaitBudget(limit=1000))
    for index in range(MAX_IN_FLIGHT):
        assert in_flight.may_start([b"GET", b"k%d" % index])
        in_flight.start([b"GET", b"k%d" % index])
    assert not in_flight.may_start([b"GET", b"another"])


def test_past_the_servers_budget_a_connection_runs_one_command_at_a_time() -> None:
    budget = WaitBudget(limit=3)
    busy, other = InFlight(budget), InFlight(budget)
    first = busy.start([b"SET", b"a", b"1"])
    busy.start([b"SET", b"b", b"1"])
    other.start([b"SET", b"c", b"1"])
    assert budget.waiting == 3
    assert not busy.may_start([b"SET", b"d", b"1"])  # three wait: no connection adds a second one
    assert InFlight(budget).may_start([b"SET", b"e", b"1"])  # but a connection's first command always starts
    busy.finish(first, b"+OK\r\n")
    assert budget.waiting == 2
    assert busy.may_start([b"SET", b"d", b"1"])
