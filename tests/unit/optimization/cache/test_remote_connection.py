"""One L3 node connection, fed by hand: how replies, batches of replies and pushes are matched to what was sent."""

from __future__ import annotations

import asyncio

from memories.errors import TierUnavailable
from memories.optimization.cache.remote.connection import NodeConnection
from memories.optimization.cache.remote.protocol import Push, ReplyError, encode_command
from memories.optimization.cache.remote.settings import NodeAddress, RemoteSettings


class KeptTransport(asyncio.Transport):
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True


def new_connection(events: list[object]) -> tuple[NodeConnection, KeptTransport]:
    address = NodeAddress("127.0.0.1", 6379)
    connection = NodeConnection(
        address,
        RemoteSettings(addresses=(address,), prefix="p:"),
        tracking=True,
        heartbeat_seconds=60,
        on_push=lambda _connection, push: events.append(("push", push)),
        on_lost=lambda _connection, error: events.append(("lost", type(error))),
    )
    transport = KeptTransport()
    connection.connection_made(transport)
    return connection, transport


def set_command(key: bytes) -> bytes:
    return encode_command("SET", key, b"v")


async def test_a_batch_gets_its_replies_together_in_order_and_pushes_amid_them_come_first() -> None:
    """A push between two replies of a batch is for a write Redis executed after the batch's earlier commands: it
    is handed on when it is parsed, before the batch's callback, which then gets every reply (errors included) in
    order; the command after the batch gets the next reply."""
    events: list[object] = []
    connection, transport = new_connection(events)
    commands = [set_command(b"p:a"), set_command(b"p:b"), set_command(b"p:c")]
    connection.send_many_then(commands, lambda replies: events.append(("batch", replies)))
    connection.send_then(encode_command("GET", b"p:a"), lambda reply: events.append(("get", reply)))
    await asyncio.sleep(0)  # the flush: one write of every command, in order
    assert bytes(transport.written) == b"".join(commands) + encode_command("GET", b"p:a")
    connection.data_received(b"+OK\r\n+O")  # a reply cut between reads
    assert events == []
    connection.data_received(b"K\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\np:a\r\n-NOPERM no\r\n$1\r\nw\r\n")
    assert events == [
        ("push", Push([b"invalidate", [b"p:a"]])),
        ("batch", [b"OK", b"OK", ReplyError("NOPERM no")]),
        ("get", b"w"),
    ]
    connection.close()


async def test_a_connection_lost_amid_a_batch_reports_the_replies_that_arrived_and_fails_the_rest() -> None:
    events: list[object] = []
    connection, transport = new_connection(events)
    connection.send_many_then([set_command(b"p:a"), set_command(b"p:b")], lambda replies: events.append(replies))
    connection.send_many_then([set_command(b"p:c")], lambda replies: events.append(replies))
    connection.send_then(encode_command("GET", b"p:a"), lambda reply: events.append(type(reply)))
    connection.data_received(b"+OK\r\n")
    connection.close()
    first, second, get, lost = events
    assert isinstance(first, list) and first[0] == b"OK" and isinstance(first[1], TierUnavailable)
    assert isinstance(second, list) and len(second) == 1 and isinstance(second[0], TierUnavailable)
    assert (get, lost) == (TierUnavailable, ("lost", TierUnavailable)) and transport.aborted


async def test_a_batch_of_many_oks_arriving_in_pieces_is_answered_once() -> None:
    events: list[object] = []
    connection, _transport = new_connection(events)
    connection.send_many_then([set_command(b"p:%d" % index) for index in range(100)], events.append)
    replies = b"+OK\r\n" * 100
    for start in range(0, len(replies), 37):  # pieces that cut replies anywhere
        connection.data_received(replies[start : start + 37])
    assert events == [[b"OK"] * 100]
    connection.close()


async def test_a_gets_miss_after_a_sets_ok_cut_before_its_last_byte_is_answered_when_it_arrives() -> None:
    """Redis' replies cut by TCP after ``+OK\\r``, then a GET's miss (``_\\r\\n``, shorter than an OK) arriving on its
    own: the GET gets it at once. (It used to wait for more bytes that Redis had no reason to send, until the
    connection was given up as silent and every local copy dropped.)"""
    events: list[object] = []
    connection, _transport = new_connection(events)
    connection.send_then(set_command(b"p:a"), lambda reply: events.append(("set", reply)))
    connection.send_then(encode_command("GET", b"p:b"), lambda reply: events.append(("get", reply)))
    connection.data_received(b"+OK\r")
    connection.data_received(b"\n")
    connection.data_received(b"_\r\n")
    assert events == [("set", b"OK"), ("get", None)]
    connection.close()


async def test_write_now_sends_what_the_turn_queued_at_once_and_the_end_of_the_turn_sends_nothing_again() -> None:
    events: list[object] = []
    connection, transport = new_connection(events)
    connection.send_many_then([set_command(b"p:a")], events.append)
    connection.send_then(set_command(b"p:b"), events.append)
    assert bytes(transport.written) == b""  # automatic pipelining: at the end of the turn
    connection.write_now()
    assert bytes(transport.written) == set_command(b"p:a") + set_command(b"p:b")
    await asyncio.sleep(0)  # the end of the turn finds nothing left to write
    assert bytes(transport.written) == set_command(b"p:a") + set_command(b"p:b")
    connection.send_then(set_command(b"p:c"), events.append)
    await asyncio.sleep(0)
    assert bytes(transport.written) == set_command(b"p:a") + set_command(b"p:b") + set_command(b"p:c")
    connection.data_received(b"+OK\r\n+OK\r\n+OK\r\n")
    assert events == [[b"OK"], b"OK", b"OK"]
