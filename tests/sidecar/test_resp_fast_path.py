"""The compiled GET/SET fast path answers exactly as the pure-Python parser and command table do."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memories.optimization.cache import CacheManager
from memories.sidecar.resp import _fast
from memories.sidecar.resp.protocol import RespParser, encode_bulk
from tests.compiled_code import needs_compiled
from tests.sidecar.resp_harness import MAX_BULK_LENGTH, connection, frame, settle


async def replay(chunks: list[bytes], *, accelerate: bool, token: str | None = None) -> bytes:
    """Feed ``chunks`` one read at a time, letting waiting commands finish in between; return the replies."""
    resp_connection, transport = connection(accelerate=accelerate, token=token)
    for chunk in chunks:
        if transport.closed:
            break
        resp_connection.data_received(chunk)
        await settle(resp_connection)
    return transport.written


def both_paths(chunks: list[bytes], token: str | None = None) -> tuple[bytes, bytes]:
    async def run() -> tuple[bytes, bytes]:
        return (
            await replay(chunks, accelerate=True, token=token),
            await replay(chunks, accelerate=False, token=token),
        )

    return asyncio.run(run())


names = st.sampled_from([b"GET", b"get", b"Get", b"SET", b"set", b"sEt", b"GETX", b"SE"])
keys = st.sampled_from([b"a", b"b", b"k\xff", b"key:0001", b"x" * 13, b""])
values = st.one_of(st.binary(max_size=20), st.sampled_from([b"v" * 4000, b"w" * 4600, b"1\r\n2"]))
plain_commands = st.tuples(names, keys, values).map(
    lambda parts: frame(parts[0], parts[1]) if parts[0].lower().startswith(b"get") else frame(*parts)
)
other_commands = st.sampled_from(
    [
        frame(b"GET", b"a", b"extra"),
        frame(b"SET", b"a", b"1", b"EX", b"100"),
        frame(b"SET", b"a", b"1", b"NX"),
        frame(b"SET", b"a"),
        frame(b"DEL", b"a"),
        frame(b"INCR", b"b"),
        frame(b"MSET", b"a", b"1", b"b", b"2"),
        frame(b"HELLO", b"3"),
        frame(b"PING"),
        b"PING\r\n",
        b"GET a\r\n",
        b'SET a "quoted value"\r\n',
        b"*2\r\n$3\r\nGET\r\n$x\r\n",  # malformed length: the connection is closed after the error
        b"*2\r\n$3\r\nGET\r\n$9999\r\n",  # longer than max_bulk_length
        frame(b"SET", b"big", b"z" * (MAX_BULK_LENGTH + 1)),
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\nabXY",  # a bulk string not ended by CRLF
        frame(b"GET", b"a" * 20),
    ]
)
streams = st.lists(st.one_of(plain_commands, plain_commands, other_commands), min_size=1, max_size=30)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)], strict=True) if end > start]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=streams, cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=6))
def test_any_stream_gets_the_same_replies_on_both_paths(commands: list[bytes], cuts: list[int]) -> None:
    accelerated, pure = both_paths(split(b"".join(commands), cuts))
    assert accelerated == pure


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4))
def test_random_bytes_get_the_same_replies_on_both_paths(data: bytes, cuts: list[int]) -> None:
    accelerated, pure = both_paths(split(data, cuts))
    assert accelerated == pure


@needs_compiled("the compiled path")
async def test_the_extension_is_built_and_used() -> None:
    resp_connection, _transport = connection(accelerate=True)
    assert resp_connection._commands.accelerated
    table = resp_connection._commands
    data = frame(b"SET", b"k", b"v") + frame(b"GET", b"k") + frame(b"PING")
    replies, consumed, incomplete = table.run_fast(data, 0, 2**20, 2**20, resp_connection.session, 100)
    assert (replies, consumed, incomplete) == (b"+OK\r\n$1\r\nv\r\n", len(data) - len(frame(b"PING")), False)
    assert table.call_counts() == {"set": 1, "get": 1}


async def test_a_command_split_across_reads_is_finished_by_the_fast_path() -> None:
    resp_connection, transport = connection(accelerate=True)
    data = frame(b"SET", b"k", b"v" * 3000) + frame(b"GET", b"k")
    resp_connection.data_received(data[:1500])
    await settle(resp_connection)
    assert resp_connection.pending_bytes == 1500  # kept for the next read, not yet answered
    assert transport.written == b""
    resp_connection.data_received(data[1500:])
    await settle(resp_connection)
    assert transport.written == b"+OK\r\n" + encode_bulk(b"v" * 3000)
    assert resp_connection.pending_bytes == 0
    assert resp_connection._commands.call_counts() == {"set": 1, "get": 1}


def test_pipelined_plain_commands_round_trip_byte_for_byte() -> None:
    payloads = [bytes([index]) * (index * 37 % 3000) for index in range(40)]
    commands = [frame(b"SET", b"key:%04d" % index, payload) for index, payload in enumerate(payloads)]
    commands += [frame(b"GET", b"key:%04d" % index) for index in range(40)]
    accelerated, pure = both_paths([b"".join(commands)])
    expected = b"+OK\r\n" * 40 + b"".join(encode_bulk(payload) for payload in payloads)
    assert accelerated == pure
    # The small test L1 (8 KB) evicted the oldest values; what is left comes back unchanged.
    assert accelerated.startswith(b"+OK\r\n" * 40)
    assert encode_bulk(payloads[-1]) in accelerated and len(expected) >= len(accelerated)


def test_unauthenticated_clients_are_refused_on_the_fast_path_too() -> None:
    chunks = [frame(b"GET", b"a"), frame(b"AUTH", b"secret"), frame(b"SET", b"a", b"1") + frame(b"GET", b"a")]
    accelerated, pure = both_paths(chunks, token="secret")
    assert accelerated == pure == b"-NOAUTH Authentication required.\r\n+OK\r\n+OK\r\n$1\r\n1\r\n"


def test_resp3_clients_get_resp3_nulls() -> None:
    accelerated, pure = both_paths([frame(b"HELLO", b"3"), frame(b"GET", b"missing")])
    assert accelerated == pure
    assert accelerated.endswith(b"_\r\n")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((bytearray(b"*1\r\n"), 0, 10), TypeError),
        ((b"*1\r\n", 5, 10), ValueError),
        ((b"*1\r\n", -1, 10), ValueError),
    ],
)
def test_bad_arguments_raise(arguments: tuple[Any, int, int], error: type[Exception]) -> None:
    with pytest.raises(error):
        _fast.run(*arguments, 10, 10, 10, 10, len, lambda key, value: True, None, b"-W\r\n", b"$-1\r\n")


def test_a_budget_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="budget"):
        _fast.run(b"*1\r\n", 0, 0, 10, 10, 10, 10, len, lambda key, value: True, None, b"-W\r\n", b"$-1\r\n")


def test_interrupts_from_the_cache_propagate() -> None:
    def interrupted(key: str) -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fast.run(
            frame(b"GET", b"k"), 0, 100, 100, 10, 10, 10, interrupted, lambda k, v: True, None, b"-W\r\n", b"$-1\r\n"
        )


def run_with_a_fresh_store(
    data: bytes, start: int, budget: int, max_bulk_length: int
) -> tuple[bytes, int, int, int, bool]:
    store: dict[str, bytes] = {}

    def set_value(key: str, value: bytes) -> bool:
        store[key] = value
        return True

    result = _fast.run(
        data, start, budget, 2**62, max_bulk_length, 100, 4096, store.get, set_value, object(), b"-W\r\n", b"$-1\r\n"
    )
    assert len(store) <= result[3]
    return result


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=300), streams.map(b"".join)),
    start=st.integers(min_value=0, max_value=300),
    max_bulk_length=st.integers(min_value=0, max_value=5000),
)
def test_run_never_crashes_and_stops_at_a_command_boundary(data: bytes, start: int, max_bulk_length: int) -> None:
    start = min(start, len(data))
    replies, consumed, gets, sets, incomplete = run_with_a_fresh_store(data, start, 2**62, max_bulk_length)
    assert start <= consumed <= len(data)
    # What was consumed is exactly gets + sets complete commands, which the Python parser reads the same way.
    parsed = RespParser().feed(data[start:consumed])
    assert len(parsed) == gets + sets
    assert all(command[0].lower() in (b"get", b"set") for command in parsed)
    assert replies.count(b"+OK\r\n") >= sets
    if incomplete:
        assert consumed < len(data)


@settings(max_examples=200, deadline=None)
@given(commands=streams, budget=st.integers(min_value=1, max_value=20000))
def test_no_command_starts_once_the_budget_is_spent(commands: list[bytes], budget: int) -> None:
    data = b"".join(commands)
    unlimited = run_with_a_fresh_store(data, 0, 2**62, MAX_BULK_LENGTH)
    # With a budget of one byte, each call answers exactly one command: that gives every boundary.
    boundaries = [0]
    while boundaries[-1] < unlimited[1]:
        boundaries.append(run_with_a_fresh_store(data, boundaries[-1], 1, MAX_BULK_LENGTH)[1])
        assert boundaries[-1] > boundaries[-2]
    assert boundaries[-1] == unlimited[1]
    replies, consumed, gets, sets, _incomplete = run_with_a_fresh_store(data, 0, budget, MAX_BULK_LENGTH)
    assert consumed == next((boundary for boundary in boundaries if boundary >= budget), unlimited[1])
    assert gets + sets == boundaries.index(consumed)
    assert unlimited[0].startswith(replies)


async def test_non_bytes_values_get_wrongtype_on_the_fast_path() -> None:
    replies = []
    for accelerate in (True, False):
        cache = CacheManager("1MB")
        assert cache.set_nowait("json", {"a": [1, 2]})  # stored through the engine's API, not RESP
        resp_connection, transport = connection(accelerate=accelerate, cache=cache)
        resp_connection.data_received(frame(b"GET", b"json") + frame(b"GET", b"absent"))
        await settle(resp_connection)
        replies.append(transport.written)
    assert replies[0] == replies[1] == b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n$-1\r\n"


def test_with_a_disk_tier_writes_and_misses_fall_back_and_answer_the_same(tmp_path: Path) -> None:
    chunks = [frame(b"SET", b"k%d" % index, b"v" * 900) for index in range(30)]
    chunks += [frame(b"GET", b"k%d" % index) for index in range(30)] + [frame(b"GET", b"never")]

    async def replay_with_l2(accelerate: bool) -> bytes:
        cache = CacheManager("8KB", l2_size="1MB", l2_path=tmp_path / f"l2-{accelerate}")
        await cache.start()
        resp_connection, transport = connection(accelerate=accelerate, cache=cache)
        for chunk in chunks:
            resp_connection.data_received(chunk)
            await settle(resp_connection)
        return transport.written

    async def both() -> tuple[bytes, bytes]:
        return await replay_with_l2(True), await replay_with_l2(False)

    accelerated, pure = asyncio.run(both())
    assert accelerated == pure
    # Every value comes back, from L1 or from the disk tier it was demoted to.
    assert accelerated == b"+OK\r\n" * 30 + encode_bulk(b"v" * 900) * 30 + b"$-1\r\n"


def test_no_command_starts_once_the_output_budget_is_encoded() -> None:
    value = b"v" * 100  # a reply of 107 bytes
    data = frame(b"GET", b"k") * 5
    replies, consumed, gets, _sets, _incomplete = _fast.run(
        data, 0, 2**20, 150, 10, 10, 1000, {"k": value}.get, lambda k, v: True, None, b"-W\r\n", b"$-1\r\n"
    )
    assert gets == 2  # the second GET started below 150 bytes of replies, the third did not
    assert replies == encode_bulk(value) * 2
    assert consumed == len(frame(b"GET", b"k")) * 2


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=300), streams.map(b"".join)),
    start=st.integers(min_value=0, max_value=300),
    budget=st.integers(min_value=1, max_value=2000),
    taken=st.sets(st.sampled_from(["a", "b", "k", "key"]), max_size=2),
)
def test_collect_sets_takes_only_leading_plain_sets_of_free_keys(
    data: bytes, start: int, budget: int, taken: set[str]
) -> None:
    """What collect_sets takes is leading ``SET key value`` commands as the Python parser reads them, each key
    once and none taken before, the last one started within the budget; their keys are added to ``taken``."""
    start = min(start, len(data))
    before = set(taken)
    keys, values, consumed = _fast.collect_sets(data, start, budget, MAX_BULK_LENGTH, 64, 2**20, taken)
    assert start <= consumed <= len(data)
    parsed = RespParser().feed(data[start:consumed])
    assert all(len(command) == 3 and command[0].lower() == b"set" for command in parsed)
    assert keys == [command[1].decode("utf-8", "surrogateescape") for command in parsed]
    assert values == [command[2] for command in parsed]
    assert len(set(keys)) == len(keys) and not before & set(keys)
    assert taken == before | set(keys)
    if parsed:
        assert consumed - start - len(frame(*parsed[-1])) < budget


def test_collect_sets_stops_at_anything_else() -> None:
    sets = frame(b"SET", b"a", b"1") + frame(b"set", b"b", b"2")
    for stop in (
        frame(b"SET", b"a", b"3"),  # a key the batch already holds
        frame(b"SET", b"t", b"3"),  # a key taken by a batch in flight
        frame(b"SET", b"c", b"3", b"EX", b"10"),  # options
        frame(b"GET", b"c"),
        frame(b"SET", b"k" * 65, b"3"),  # over the key length limit
        frame(b"SET", b"c", b"x" * 101),  # over the value size limit
        frame(b"SET", b"c", b"3")[:-3],  # incomplete
    ):
        taken = {"t"}
        collected = _fast.collect_sets(sets + stop, 0, 2**20, MAX_BULK_LENGTH, 64, 100, taken)
        assert collected == (["a", "b"], [b"1", b"2"], len(sets)), stop
        assert taken == {"t", "a", "b"}
    assert _fast.collect_sets(sets, 0, 1, MAX_BULK_LENGTH, 64, 100, set()) == (
        ["a"],
        [b"1"],
        len(frame(b"SET", b"a", b"1")),
    )
