"""The RESP2 request parser and reply encoders."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.sidecar.resp.protocol import (
    RespParser,
    RespProtocolError,
    encode_array,
    encode_bulk,
    encode_error,
    split_quoted,
)


def encode_command(arguments: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(arguments) + b"".join(encode_bulk(argument) for argument in arguments)


def test_parses_one_command() -> None:
    assert RespParser().feed(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") == [[b"GET", b"k"]]


def test_parses_pipelined_commands_in_order() -> None:
    data = encode_command([b"SET", b"a", b"1"]) + encode_command([b"GET", b"a"]) + b"PING\r\n"
    assert RespParser().feed(data) == [[b"SET", b"a", b"1"], [b"GET", b"a"], [b"PING"]]


def test_partial_frame_waits_for_more_bytes() -> None:
    parser = RespParser()
    assert parser.feed(b"*2\r\n$3\r\nGET\r\n$5\r\nab") == []
    assert parser.pending > 0
    assert parser.feed(b"cde\r\n") == [[b"GET", b"abcde"]]
    assert parser.pending == 0


def test_binary_values_with_crlf_inside_survive() -> None:
    value = b"line\r\nnext\x00\xff"
    assert RespParser().feed(encode_command([b"SET", b"k", value])) == [[b"SET", b"k", value]]


def test_inline_command_splits_on_whitespace() -> None:
    assert RespParser().feed(b"SET  key value\r\n") == [[b"SET", b"key", b"value"]]


def test_inline_quotes_and_escapes() -> None:
    assert split_quoted(b"SET k \"a b\\n\\x41\" 'it\\'s'") == [b"SET", b"k", b"a b\nA", b"it's"]


def test_unbalanced_quotes_are_recoverable() -> None:
    parser = RespParser()
    with pytest.raises(RespProtocolError) as raised:
        parser.feed(b'GET "a\r\nPING\r\n')
    assert raised.value.recoverable
    assert parser.feed(b"") == [[b"PING"]]


def test_bulk_longer_than_limit_is_unrecoverable() -> None:
    parser = RespParser(max_bulk_length=10)
    with pytest.raises(RespProtocolError, match="larger than the limit of 10 bytes") as raised:
        parser.feed(b"*2\r\n$3\r\nSET\r\n$11\r\n")
    assert not raised.value.recoverable


def test_too_many_arguments_is_unrecoverable() -> None:
    with pytest.raises(RespProtocolError, match="multibulk length"):
        RespParser(max_array_length=3).feed(b"*4\r\n")


def test_incomplete_request_larger_than_buffer_limit_is_refused() -> None:
    parser = RespParser(max_buffer_length=100)
    with pytest.raises(RespProtocolError, match="larger than the limit of 100 bytes"):
        parser.feed(b"*2\r\n$3\r\nSET\r\n$500\r\n" + b"x" * 200)


def test_commands_before_an_error_are_kept() -> None:
    parser = RespParser()
    with pytest.raises(RespProtocolError):
        parser.feed(b"PING\r\n*1\r\n:1\r\n")
    assert parser.take_parsed() == [[b"PING"]]


def test_the_two_bytes_after_a_bulk_string_are_skipped_unread_as_redis_server_does() -> None:
    assert RespParser().feed(b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n") == [[b"PING"], [b"PING"]]


@pytest.mark.parametrize("header", [b"*01", b"*+1", b"*-0", b"*1\r\n$04", b"*1\r\n$-0", b"*1\r\n$+4", b"*1\r\n$-2"])
def test_lengths_redis_server_refuses_are_errors(header: bytes) -> None:
    with pytest.raises(RespProtocolError, match="invalid (multi)?bulk length"):
        RespParser().feed(header + b"\r\nPING\r\n")


def test_a_negative_count_is_skipped() -> None:
    assert RespParser().feed(b"*-5\r\n*-9223372036854775808\r\n*1\r\n$4\r\nPING\r\n") == [[b"PING"]]


def test_encoders() -> None:
    assert encode_bulk(b"hi") == b"$2\r\nhi\r\n"
    assert encode_array([b"a", None]) == b"*2\r\n$1\r\na\r\n$-1\r\n"
    assert encode_error("ERR bad\r\nthing") == b"-ERR bad  thing\r\n"


arguments_strategy = st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=5), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(commands=arguments_strategy, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_any_split_of_valid_commands_parses_to_the_same_commands(commands: list[list[bytes]], cuts: list[int]) -> None:
    data = b"".join(encode_command(command) for command in commands)
    positions = sorted({cut % (len(data) + 1) for cut in cuts})
    parser = RespParser()
    parsed: list[list[bytes]] = []
    previous = 0
    for position in [*positions, len(data)]:
        parsed += parser.feed(data[previous:position])
        previous = position
    assert parsed == commands
    assert parser.pending == 0


@settings(max_examples=500, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes_raise_only_protocol_errors(chunks: list[bytes]) -> None:
    parser = RespParser(max_bulk_length=1000, max_array_length=100, max_buffer_length=4096)
    for chunk in chunks:
        try:
            parser.feed(chunk)
        except RespProtocolError:
            parser.take_parsed()


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from([b"*", b"$", b"*1\r\n$", b"*2\r\n$3\r\nGET\r\n$"]), tail=st.binary(max_size=40))
def test_mutated_headers_raise_only_protocol_errors(prefix: bytes, tail: bytes) -> None:
    parser = RespParser(max_bulk_length=1000, max_array_length=100, max_buffer_length=4096)
    with contextlib.suppress(RespProtocolError):
        parser.feed(prefix + tail)


def parse_outcome(data: bytes) -> tuple[list[list[bytes]], str | None, int]:
    """Commands, error message (or None) and pending bytes after one feed of ``data``."""
    parser = RespParser(max_bulk_length=50, max_array_length=6)
    try:
        return parser.feed(data), None, parser.pending
    except RespProtocolError as error:
        return parser.take_parsed(), str(error), parser.pending


tricky_bytes = st.binary(max_size=12) | st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"*", b"$", b"1", b"x"])).map(
    b"".join
)
frames = st.lists(
    st.lists(tricky_bytes, min_size=1, max_size=4).map(encode_command) | tricky_bytes, min_size=1, max_size=6
)


@settings(max_examples=400, deadline=None)
@given(pieces=frames)
def test_fast_path_parses_exactly_like_the_general_parser(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    with_fast_path = parse_outcome(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("memories.sidecar.resp.protocol._SIMPLE_PATH_MAX", -1)
        assert parse_outcome(data) == with_fast_path


def test_value_containing_crlf_is_parsed_whole() -> None:
    data = encode_command([b"SET", b"k", b"a\r\nb"]) + encode_command([b"GET", b"k"])
    assert RespParser().feed(data) == [[b"SET", b"k", b"a\r\nb"], [b"GET", b"k"]]
