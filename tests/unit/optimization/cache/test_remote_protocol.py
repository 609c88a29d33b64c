"""The L3 client's protocol: commands as redis-server reads them, replies (RESP2 and RESP3) parsed whatever the
reads cut them into, and bytes that are not a reply refused with ProtocolViolation and nothing else."""

from __future__ import annotations

import socket
import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.cache.remote.protocol import (
    INCOMPLETE,
    ProtocolViolation,
    Push,
    ReplyError,
    ReplyParser,
    encode_command,
)


def encode_reply(value: Any) -> bytes:
    """The RESP3 encoding of a reply value (the inverse of what ReplyParser returns)."""
    if value is None:
        return b"_\r\n"
    if isinstance(value, bool):
        return b"#t\r\n" if value else b"#f\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%b\r\n" % (len(value), value)
    if isinstance(value, ReplyError):
        return b"-%b\r\n" % value.message.encode()
    if isinstance(value, Push):
        return b">%d\r\n" % len(value) + b"".join(encode_reply(item) for item in value)
    if isinstance(value, dict):
        return b"%%%d\r\n" % len(value) + b"".join(encode_reply(k) + encode_reply(v) for k, v in value.items())
    assert isinstance(value, list)
    return b"*%d\r\n" % len(value) + b"".join(encode_reply(item) for item in value)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.binary(max_size=300)
    | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30).map(ReplyError)
)
replies = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, min_size=1, max_size=4).map(Push)
        | st.dictionaries(st.binary(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def parse_all(data: bytes, cuts: list[int]) -> list[Any]:
    parser, parsed, start = ReplyParser(), [], 0
    for cut in [*sorted(cuts), len(data)]:
        parser.feed(data[start:cut])
        start = cut
        while (reply := parser.next()) is not INCOMPLETE:
            parsed.append(reply)
    assert parser.buffered == 0
    return parsed


@settings(max_examples=300)
@given(st.lists(replies, min_size=1, max_size=8), st.data())
def test_replies_cut_anywhere_parse_to_what_was_sent(values: list[Any], data: st.DataObject) -> None:
    encoded = b"".join(encode_reply(value) for value in values)
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=10))
    assert parse_all(encoded, cuts) == values


OK_REPLY = b"+OK\r\n"


@settings(max_examples=300)
@given(st.lists(st.just(OK_REPLY) | replies.map(encode_reply), min_size=1, max_size=30), st.data())
def test_taking_oks_in_one_step_takes_what_next_would(encoded_replies: list[bytes], data: st.DataObject) -> None:
    """take_ok (a batch of SETs' replies) returns the +OKs next() would return one by one, at most the limit, and
    stops before anything else; whatever follows parses as before, however the bytes are cut."""
    encoded = b"".join(encoded_replies)
    expected = parse_all(encoded, [])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=6)))
    parser, parsed, start = ReplyParser(), [], 0
    for cut in [*cuts, len(encoded)]:
        parser.feed(encoded[start:cut])
        start = cut
        while (reply := parser.next()) is not INCOMPLETE:
            parsed.append(reply)
            if reply == b"OK":
                limit = data.draw(st.integers(0, 8))
                taken = parser.take_ok(limit)
                assert len(taken) <= limit and set(taken) <= {b"OK"}
                parsed += taken
    assert parsed == expected and parser.buffered == 0


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
@pytest.mark.parametrize("short_reply", [b"_\r\n", b":1\r\n", b"#t\r\n"])
def test_a_short_reply_after_a_split_ok_is_returned_when_it_arrives(cut: int, short_reply: bytes) -> None:
    """A +OK cut across two reads, then a reply shorter than it (a GET's miss in RESP3) arriving alone: the reply is
    returned at once, not held until more bytes come (which on an L3 connection with nothing more to send means
    until it times out and is dropped)."""
    parser = ReplyParser()
    parser.feed(OK_REPLY[:cut])
    assert parser.next() is INCOMPLETE
    parser.feed(OK_REPLY[cut:])
    assert parser.next() == b"OK"
    parser.feed(short_reply)
    assert parser.next() == parse_all(short_reply, [])[0]
    assert parser.buffered == 0


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_are_refused_never_crash(garbage: bytes) -> None:
    parser = ReplyParser()
    parser.feed(garbage)
    try:
        while parser.next() is not INCOMPLETE:
            pass
    except ProtocolViolation:
        pass


@pytest.mark.parametrize(
    "bad",
    [b"?what\r\n", b"$5\r\nabcdefg\r\n", b":12x\r\n", b"$-5\r\n", b"#x\r\n", b"*-2\r\n", b"$999999999999\r\n"],
)
def test_malformed_replies_are_protocol_violations(bad: bytes) -> None:
    parser = ReplyParser()
    parser.feed(bad)
    with pytest.raises(ProtocolViolation):
        parser.next()


def test_resp3_types_and_attributes() -> None:
    parser = ReplyParser()
    parser.feed(
        b",3.5\r\n(12345678901234567890\r\n=8\r\ntxt:abcd\r\n!5\r\nERR x\r\n~2\r\n:1\r\n:2\r\n|1\r\n+a\r\n+b\r\n:7\r\n"
    )
    assert [parser.next() for _ in range(6)] == [3.5, 12345678901234567890, b"abcd", ReplyError("ERR x"), [1, 2], 7]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=5000) | st.text(max_size=50) | st.integers(), min_size=1, max_size=6))
def test_commands_reach_redis_server_as_they_were_given(arguments: list[Any]) -> None:
    expected = [a if isinstance(a, bytes) else str(a).encode("utf-8", "surrogateescape") for a in arguments]
    assert _redis_parse(encode_command(*arguments)) == expected


def _redis_parse(command: bytes) -> list[bytes]:
    """Parse a RESP array of bulk strings as redis-server does (strict framing)."""
    assert command.startswith(b"*")
    header, _, rest = command.partition(b"\r\n")
    items = []
    for _ in range(int(header[1:])):
        length_line, _, rest = rest.partition(b"\r\n")
        assert length_line.startswith(b"$")
        length = int(length_line[1:])
        items.append(rest[:length])
        assert rest[length : length + 2] == b"\r\n"
        rest = rest[length + 2 :]
    assert rest == b""
    return items


def test_a_real_redis_server_reads_our_commands(redis_url: str) -> None:
    address = urllib.parse.urlsplit(redis_url)
    value = bytes(range(256)) * 40  # larger than one encoding part
    parser = ReplyParser()
    replies: list[object] = []
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(
            encode_command(b"SET", "protocol:ünïcode", value) + encode_command("GET", "protocol:ünïcode")
        )
        while len(replies) < 2:
            parser.feed(connection.recv(65536))
            while (reply := parser.next()) is not INCOMPLETE:
                replies.append(reply)
    assert replies == [b"OK", value]
