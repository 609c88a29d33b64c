"""Connections take turns: a long pipeline is answered a slice per event loop turn, replies are written at its end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memories.optimization.cache import CacheManager
from memories.optimization.cache.remote.settings import RemoteSettings
from memories.sidecar.resp.connection import MAX_BACKLOG_BYTES, TURN_BYTES
from memories.sidecar.resp.protocol import encode_bulk
from tests.compiled_code import needs_compiled
from tests.redis_servers import RedisServer, redis_server
from tests.sidecar.resp_harness import connect, frame, server, settle

compiled_only = needs_compiled("the compiled fast path (which takes these turns)")


def set_pipeline(count: int, size: int) -> tuple[list[bytes], list[bytes]]:
    """``count`` SET frames of ``size``-byte values, and the values."""
    values = [bytes([index % 256]) * size for index in range(count)]
    return [frame(b"SET", b"key:%04d" % index, value) for index, value in enumerate(values)], values


@compiled_only
async def test_a_long_pipeline_is_answered_in_turns_while_other_connections_get_theirs() -> None:
    resp_server = server(accelerate=True, cache=CacheManager("1MB"))
    long_connection, long_transport = connect(resp_server)
    short_connection, short_transport = connect(resp_server)
    sets, values = set_pipeline(12, 4000)
    gets = [frame(b"GET", b"key:%04d" % index) for index in range(12)]
    # Both reads arrive in the same turn of the event loop.
    long_connection.data_received(b"".join(sets + gets))
    short_connection.data_received(frame(b"GET", b"key:0000"))
    assert long_transport.writes == [] == short_transport.writes  # replies go out at the end of the turn

    await asyncio.sleep(0)
    # One turn: the long pipeline got as far as the first command starting at or past TURN_BYTES ...
    starts = [sum(len(command) for command in sets[:index]) for index in range(len(sets))]
    first_turn = sum(1 for start in starts if start < TURN_BYTES)
    assert 0 < first_turn < len(sets)
    assert long_transport.writes == [b"+OK\r\n" * first_turn]
    # ... and the other connection was answered in the same turn (after the SETs that turn made).
    assert short_transport.writes == [encode_bulk(values[0])]

    await settle(long_connection)
    assert long_transport.written == b"+OK\r\n" * len(sets) + b"".join(encode_bulk(value) for value in values)
    assert len(long_transport.writes) > 2


@compiled_only
async def test_requests_read_during_a_long_pipeline_are_answered_after_it_in_order() -> None:
    resp_connection, transport = connect(server(accelerate=True, cache=CacheManager("1MB")))
    sets, values = set_pipeline(10, 4000)
    resp_connection.data_received(b"".join(sets))
    await asyncio.sleep(0)
    resp_connection.data_received(frame(b"GET", b"key:0009") + frame(b"PING"))
    await settle(resp_connection)
    assert transport.written == b"+OK\r\n" * 10 + encode_bulk(values[9]) + b"+PONG\r\n"


@compiled_only
async def test_reading_pauses_while_the_backlog_is_over_its_bound_and_resumes_once_answered() -> None:
    resp_connection, transport = connect(server(accelerate=True, cache=CacheManager("1MB")))
    sets, _values = set_pipeline(600, 4000)  # 2.4 MB of requests
    half = len(sets) // 2
    resp_connection.data_received(b"".join(sets[:half]))
    assert transport.is_reading()
    resp_connection.data_received(b"".join(sets[half:]))
    assert len(b"".join(sets)) - TURN_BYTES > MAX_BACKLOG_BYTES
    assert not transport.is_reading()
    await settle(resp_connection)
    assert transport.is_reading()
    assert transport.written == b"+OK\r\n" * len(sets)


@compiled_only
async def test_a_stopping_server_answers_the_backlog_but_reads_nothing_more() -> None:
    resp_server = server(accelerate=True, cache=CacheManager("1MB"))
    resp_connection, transport = connect(resp_server)
    sets, _values = set_pipeline(600, 4000)
    resp_connection.data_received(b"".join(sets[:300]))
    resp_connection.data_received(b"".join(sets[300:]))
    resp_server.stop_accepting()
    await settle(resp_connection)
    assert transport.written == b"+OK\r\n" * len(sets)
    assert not transport.is_reading()


async def test_drained_writes_do_not_resume_reading_on_a_stopping_server() -> None:
    resp_server = server(accelerate=True)
    resp_connection, transport = connect(resp_server)
    resp_connection.pause_writing()
    assert not transport.is_reading()
    resp_server.stop_accepting()
    resp_connection.resume_writing()
    assert not transport.is_reading()


@compiled_only
async def test_drained_writes_do_not_resume_reading_while_the_backlog_is_over_its_bound() -> None:
    resp_connection, transport = connect(server(accelerate=True, cache=CacheManager("1MB")))
    sets, _values = set_pipeline(600, 4000)
    resp_connection.data_received(b"".join(sets[:300]))
    resp_connection.data_received(b"".join(sets[300:]))
    resp_connection.pause_writing()
    resp_connection.resume_writing()
    assert not transport.is_reading()
    await settle(resp_connection)
    assert transport.is_reading()
    assert transport.written == b"+OK\r\n" * len(sets)


@pytest.mark.parametrize("accelerate", [True, False])
async def test_replies_of_one_turn_are_written_together(accelerate: bool) -> None:
    resp_connection, transport = connect(server(accelerate=accelerate))
    resp_connection.data_received(frame(b"SET", b"a", b"1"))
    resp_connection.data_received(frame(b"GET", b"a") + frame(b"PING"))
    resp_connection.data_received(frame(b"ECHO", b"x"))
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"+OK\r\n$1\r\n1\r\n+PONG\r\n$1\r\nx\r\n"]


@pytest.mark.parametrize("accelerate", [True, False])
async def test_quit_writes_the_replies_before_closing(accelerate: bool) -> None:
    resp_connection, transport = connect(server(accelerate=accelerate))
    resp_connection.data_received(frame(b"SET", b"a", b"1") + frame(b"QUIT") + frame(b"GET", b"a"))
    assert transport.closed
    assert transport.writes == [b"+OK\r\n+OK\r\n"]
    await asyncio.sleep(0)
    assert transport.writes == [b"+OK\r\n+OK\r\n"]  # nothing after QUIT


@pytest.fixture
async def l3_cache(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, CacheManager]]:
    """A started 1 MB cache whose L3 is a redis-server of its own (keys under ``t:``), and that server."""
    with redis_server(tmp_path / "l3") as l3:
        cache = CacheManager("1MB", l3=RemoteSettings.from_url(f"redis://127.0.0.1:{l3.port}/0", prefix="t:"))
        await cache.start()
        try:
            yield l3, cache
        finally:
            await cache.close()


@compiled_only
async def test_a_client_waiting_for_its_write_through_reply_is_not_paused_one_pipelining_behind_it_is(
    l3_cache: tuple[RedisServer, CacheManager],
) -> None:
    _l3, cache = l3_cache
    resp_connection, transport = connect(server(accelerate=True, cache=cache))
    # A client that sends one SET and waits: its SET waits for Redis, reading is left as it is.
    resp_connection.data_received(frame(b"SET", b"a", b"1"))
    assert not resp_connection.idle
    assert transport.is_reading()
    await settle(resp_connection)
    assert transport.written == b"+OK\r\n"
    assert transport.is_reading()
    # A client that pipelines behind a waiting SET: its next read is taken, then reading pauses until
    # everything is answered, in order.
    transport.writes.clear()
    resp_connection.data_received(frame(b"SET", b"a", b"2"))
    resp_connection.data_received(frame(b"GET", b"a") + frame(b"SET", b"b", b"3"))
    assert not transport.is_reading()
    await settle(resp_connection)
    assert transport.written == b"+OK\r\n" + encode_bulk(b"2") + b"+OK\r\n"
    assert transport.is_reading()
    assert await cache.get("b") == b"3"


@compiled_only
async def test_with_l3_reads_beginning_with_a_set_start_it_at_once_in_any_spelling_and_order(
    l3_cache: tuple[RedisServer, CacheManager],
) -> None:
    l3, cache = l3_cache
    assert not server(accelerate=True).commands.sets_wait_for_l3  # L1 only: SETs are answered at once
    assert not server(accelerate=False, cache=cache).commands.sets_wait_for_l3
    resp_server = server(accelerate=True, cache=cache)
    assert resp_server.commands.sets_wait_for_l3
    resp_connection, transport = connect(resp_server)
    reads = [
        frame(b"SET", b"a", b"1") + frame(b"SET", b"b", b"2") + frame(b"GET", b"a"),
        frame(b"set", b"a", b"3") + frame(b"GET", b"a"),  # lower case: the parser's way
        frame(b"SET", b"a", b"4") + frame(b"set", b"b", b"5") + frame(b"GET", b"b") + frame(b"GET", b"a"),
    ]
    for read in reads:
        resp_connection.data_received(read)
        await settle(resp_connection)
    assert transport.written == (
        b"+OK\r\n+OK\r\n$1\r\n1\r\n" + b"+OK\r\n$1\r\n3\r\n" + b"+OK\r\n+OK\r\n$1\r\n5\r\n$1\r\n4\r\n"
    )
    assert l3.client().mget("t:a", "t:b") == [b"4", b"5"]
