"""A client that does not read its replies is held back, not buffered for: reading and turns pause while the
transport holds unsent replies, a turn ends after ``TURN_OUTPUT_BYTES`` of replies, and past
``maxOutputBuffer`` the connection is closed (counted, logged once)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from memories.optimization.cache import CacheManager
from memories.sidecar.resp.connection import TURN_OUTPUT_BYTES
from memories.sidecar.resp.protocol import encode_bulk
from tests.sidecar.resp_harness import connect, frame, server, settle

VALUE = b"v" * 4000


def cache_with_values(count: int) -> CacheManager:
    cache = CacheManager("8MB")
    for index in range(count):
        assert cache.set_nowait(b"key:%04d" % index, VALUE)
    return cache


def gets(count: int) -> bytes:
    return b"".join(frame(b"GET", b"key:%04d" % index) for index in range(count))


@pytest.mark.parametrize("accelerate", [True, False])
async def test_a_turn_ends_after_turn_output_bytes_of_replies(accelerate: bool) -> None:
    count = 2 * TURN_OUTPUT_BYTES // len(VALUE) + 10
    resp_connection, transport = connect(server(accelerate=accelerate, cache=cache_with_values(count)))
    resp_connection.data_received(gets(count))
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert TURN_OUTPUT_BYTES <= len(transport.writes[0]) <= TURN_OUTPUT_BYTES + len(encode_bulk(VALUE))
    await settle(resp_connection)
    assert transport.written == encode_bulk(VALUE) * count
    assert len(transport.writes) >= 3


@pytest.mark.parametrize("accelerate", [True, False])
async def test_no_turn_is_taken_and_nothing_read_while_the_client_does_not_read(accelerate: bool) -> None:
    count = 3 * TURN_OUTPUT_BYTES // len(VALUE)
    resp_connection, transport = connect(server(accelerate=accelerate, cache=cache_with_values(count)))
    resp_connection.data_received(gets(count))
    await asyncio.sleep(0)
    resp_connection.pause_writing()  # what the transport does once its buffer is over the high-water mark
    for _ in range(3):
        await asyncio.sleep(0)
    held = len(transport.written)  # at most the turn already answered when the pause came
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(transport.written) == held < len(encode_bulk(VALUE)) * count
    assert not transport.reading
    resp_connection.resume_writing()
    await settle(resp_connection)
    assert transport.written == encode_bulk(VALUE) * count
    assert transport.reading


@pytest.mark.parametrize("accelerate", [True, False])
async def test_a_finished_turn_does_not_resume_reading_while_writing_is_paused(accelerate: bool) -> None:
    # The bug of issue 11: answering the rest of a pipeline resumed reading though the transport was full.
    count = TURN_OUTPUT_BYTES // len(VALUE) + 10
    resp_connection, transport = connect(server(accelerate=accelerate, cache=cache_with_values(count)))
    resp_connection.data_received(gets(count))
    await asyncio.sleep(0)
    resp_connection.pause_writing()
    resp_connection.resume_writing()
    resp_connection.pause_writing()
    for _ in range(10):
        await asyncio.sleep(0)
    assert not transport.reading
    resp_connection.resume_writing()
    await settle(resp_connection)
    assert transport.reading
    assert transport.written == encode_bulk(VALUE) * count


@pytest.mark.parametrize("accelerate", [True, False])
async def test_unsent_replies_over_the_limit_close_the_connection_once_counted_and_logged_once(
    accelerate: bool, caplog: pytest.LogCaptureFixture
) -> None:
    count = 100
    resp_server = server(accelerate=accelerate, cache=cache_with_values(count), max_output_buffer=64 * 1024)
    connections = [connect(resp_server) for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="memories.sidecar.resp.server"):
        for resp_connection, transport in connections:
            resp_connection.data_received(gets(count))
            await asyncio.sleep(0)
            assert transport.aborted
            assert len(transport.written) <= 64 * 1024  # the replies past the limit were dropped, not written
    assert resp_server.statistics.output_limit_closes == 3
    messages = [record.getMessage() for record in caplog.records if "maxOutputBuffer" in record.getMessage()]
    assert len(messages) == 1
    assert "65536 bytes" in messages[0]


async def test_replies_still_unsent_past_the_limit_close_the_connection() -> None:
    resp_server = server(accelerate=True, cache=cache_with_values(10), max_output_buffer=64 * 1024)
    resp_connection, transport = connect(resp_server)
    resp_connection.pause_writing()
    transport.unsent = 60 * 1024  # the client has not read these
    resp_connection.data_received(gets(10))  # read before the pause took effect
    await asyncio.sleep(0)
    assert not transport.aborted  # 40 KB more queued, but the transport says 60 KB are unsent
    transport.unsent = 100 * 1024
    resp_connection._write([b"+OK\r\n"])
    await asyncio.sleep(0)
    assert transport.aborted
    assert resp_server.statistics.output_limit_closes == 1
