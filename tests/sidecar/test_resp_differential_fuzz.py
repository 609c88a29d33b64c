"""Differential fuzz: the same random command streams — valid and malformed, RESP and inline, cut at random byte
boundaries — go to the agent and to a real redis-server, and every byte of the replies (and whether the connection
was closed) must agree, for every command of the agent's command table.

The agent deliberately differs from redis-server in a few places; ``DIFFERENCES`` names each, with the reason, and
those commands (or forms) are not generated. A command added to the table without a generator here, or a table
entry for a command the agent no longer serves, fails ``test_every_command_is_fuzzed_or_its_difference_named``.

``MEMORIES_FUZZ_EXAMPLES`` sets how many streams a run draws (150 unless set; ``scripts/soak`` draws 500 per pass).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memories.sidecar.resp.commands import CommandTable
from tests.sidecar.conftest import sidecar_factory
from tests.sidecar.redis_peer import Peers, peers
from tests.sidecar.resp_harness import frame

#: Commands of the agent's table that are not fuzzed, and why (each is tested elsewhere or cannot agree).
DIFFERENCES = {
    "info": "a report of each server's own state (sections, counters, memory): no two servers agree",
    "hello": "names the server and its version (memories 7.0.0 against redis 7.x) and the client id",
    "command": "the agent answers COMMAND DOCS/INFO with an empty array and COMMAND COUNT with its own table's size",
    "config": "the agent has no CONFIG: CONFIG GET answers an empty array (redis-cli asks for it at start)",
    "pttl": "milliseconds left tick between the two servers' answers; test_resp_expire_times compares them rounded",
    "select": "one database: SELECT 1..15 is out of range on the agent (SELECT 0 and non-integers are compared in "
    "test_resp_like_redis)",
    "client": "CLIENT ID differs between servers and the agent accepts CLIENT SETINFO/NO-EVICT/REPLY without acting; "
    "SETNAME/GETNAME are fuzzed",
}
#: Forms that differ, within commands that are fuzzed (never generated).
FORM_DIFFERENCES = {
    "argument over server.limits.maxValueSize": "the agent names its configurable limit instead of redis-server's "
    "'invalid bulk length' at 512 MB",
    "more than 1 Mi arguments": "the agent refuses them at once, redis-server waits for up to 2 Gi arguments",
    "unbalanced quotes in an inline command": "the agent answers the protocol error and keeps the connection (a typo "
    "typed by hand costs no reconnect; docs/sidecar-config.md says so), redis-server closes it",
    "a NUL byte in an inline command": "redis-server looks for the line's end with strchr, which stops at the NUL, "
    "and waits for more bytes; the agent reads the line",
    "unknown commands": "redis-server runs its other commands (APPEND, HSET, ...); the agent answers 'unknown "
    "command', in redis-server's words, which the fuzz compares with a name neither server knows",
}
KEYS = [b"k0", b"k1", b"k2", b"n"]
MARKER = b"fuzz-end"

keys = st.sampled_from(KEYS)
values = st.one_of(
    st.sampled_from([b"", b"v", b"10", b"-3", b"9223372036854775807", b"abc", b"a b", b"x\r\ny", b'"q"']),
    st.binary(max_size=40),
)
integers = st.one_of(
    st.sampled_from([b"0", b"1", b"-1", b"100", b"-0", b"01", b"1.5", b"abc", b"9223372036854775807"]),
    st.integers(min_value=-(2**64), max_value=2**64).map(lambda number: str(number).encode()),
)
expire_seconds = st.sampled_from([b"100", b"1000", b"0", b"-5", b"abc", b"9223372036854775807", b"9223372036854775"])
expire_option = st.one_of(
    st.tuples(st.sampled_from([b"EX", b"ex"]), expire_seconds),
    st.tuples(st.just(b"PX"), st.sampled_from([b"100000", b"0", b"-1", b"9223372036854775807"])),
    st.tuples(st.sampled_from([b"EXAT", b"PXAT"]), st.sampled_from([b"4102444800", b"4102444800000", b"0", b"1"])),
).map(list)
set_flags = st.lists(st.sampled_from([b"NX", b"XX", b"GET", b"KEEPTTL", b"nx", b"JUNK"]), max_size=2)


def _command(name: bytes, *parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    return st.tuples(*parts).map(lambda arguments: [name, *arguments])


COMMANDS: dict[str, st.SearchStrategy[list[bytes]]] = {
    "get": _command(b"GET", keys),
    "set": st.tuples(keys, values, set_flags, st.one_of(st.just([]), expire_option), set_flags).map(
        lambda parts: [b"SET", parts[0], parts[1], *parts[2], *parts[3], *parts[4]]
    ),
    "del": st.lists(keys, min_size=1, max_size=3).map(lambda chosen: [b"DEL", *chosen]),
    "unlink": st.lists(keys, min_size=1, max_size=3).map(lambda chosen: [b"UNLINK", *chosen]),
    "exists": st.lists(keys, min_size=1, max_size=3).map(lambda chosen: [b"EXISTS", *chosen]),
    "mget": st.lists(keys, min_size=1, max_size=4).map(lambda chosen: [b"MGET", *chosen]),
    "mset": st.lists(st.tuples(keys, values), min_size=1, max_size=3).map(
        lambda pairs: [b"MSET", *(part for pair in pairs for part in pair)]
    ),
    "incr": _command(b"INCR", keys),
    "decr": _command(b"DECR", keys),
    "incrby": _command(b"INCRBY", keys, integers),
    "decrby": _command(b"DECRBY", keys, integers),
    "expire": st.tuples(st.sampled_from([b"EXPIRE", b"PEXPIRE"]), keys, integers, set_flags).map(
        lambda parts: [parts[0], parts[1], parts[2], *[flag for flag in parts[3] if flag != b"GET"][:1]]
    ),
    "pexpire": _command(b"PEXPIRE", keys, st.sampled_from([b"100000", b"-1", b"abc", b"9223372036854775807"])),
    "expireat": _command(b"EXPIREAT", keys, st.sampled_from([b"1", b"4102444800", b"9223372036854775807"])),
    "pexpireat": _command(b"PEXPIREAT", keys, st.sampled_from([b"1", b"4102444800000", b"9223372036854775807"])),
    "getex": st.tuples(keys, st.one_of(st.just([]), expire_option, st.just([b"PERSIST"]), st.just([b"NX"]))).map(
        lambda parts: [b"GETEX", parts[0], *parts[1]]
    ),
    "persist": _command(b"PERSIST", keys),
    "ttl": _command(b"TTL", keys),
    "dbsize": st.just([b"DBSIZE"]),
    "flushdb": st.sampled_from([[b"FLUSHDB"], [b"FLUSHDB", b"ASYNC"], [b"FLUSHDB", b"JUNK"]]),
    "flushall": st.sampled_from([[b"FLUSHALL"], [b"FLUSHALL", b"SYNC"], [b"FLUSHALL", b"JUNK"]]),
    "ping": st.one_of(st.just([b"PING"]), _command(b"PING", values), _command(b"PING", values, values)),
    "echo": st.one_of(_command(b"ECHO", values), st.just([b"ECHO"])),
    "auth": st.sampled_from([[b"AUTH", b"pw"], [b"AUTH", b"default", b"pw"], [b"AUTH", b"bob", b"pw"]]),
    "quit": st.just([b"QUIT"]),
}
CLIENT_COMMANDS = st.sampled_from([[b"CLIENT", b"SETNAME", b"fuzzer"], [b"CLIENT", b"GETNAME"]])
UNKNOWN = st.tuples(st.sampled_from([b"NOSUCHCOMMAND", b"nosuch\x00x", b"zz"]), st.lists(values, max_size=3)).map(
    lambda parts: [parts[0], *parts[1]]
)
MALFORMED = st.one_of(
    st.sampled_from(
        [
            b"*1\r\n$x\r\n",
            b"*2\r\n$3\r\nGET\r\n?x\r\n",
            b"*-5\r\n",
            b"*01\r\n$4\r\nPING\r\n",
            b"*1\r\n$04\r\nPING\r\n",
            b"\r\n",
            b"  \r\n",
            b"*1\r\n$4\r\nPINGxx",
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$-1\r\n",
        ]
    ),
    st.binary(max_size=24).filter(lambda data: not any(byte in data for byte in b"\"'\x00")),
)


def _inline(arguments: list[bytes]) -> bytes | None:
    """The command typed by hand, when its arguments allow it."""
    if all(argument and argument.isalnum() for argument in arguments):
        return b" ".join(arguments) + b"\r\n"
    return None


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """FLUSHALL, then commands (some inline), maybe one malformed frame at the end."""
    chosen = draw(st.lists(st.one_of(*COMMANDS.values(), CLIENT_COMMANDS, UNKNOWN), min_size=1, max_size=12))
    parts = [frame(b"FLUSHALL")]
    for arguments in chosen:
        inline = _inline(arguments)
        parts.append(inline if inline is not None and draw(st.booleans()) else frame(*arguments))
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        parts.append(draw(MALFORMED))
    return b"".join(parts)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """One agent and one redis-server for every example (each stream starts with FLUSHALL)."""
    with sidecar_factory() as start, peers(start, tmp_path_factory.mktemp("fuzz")) as both:
        yield both


def exchange(port: int, chunks: list[bytes]) -> tuple[bytes, bool]:
    """Send ``chunks`` (pausing between them so the server reads them apart), then a PING carrying a marker;
    return everything received until the marker's reply, a close, or 0.3 s of silence — and whether it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):  # the server may close early (QUIT, a malformed frame)
            for chunk in chunks:
                connection.sendall(chunk)
                time.sleep(0.001)
            connection.sendall(frame(b"PING", MARKER))
        connection.settimeout(0.3)
        received = b""
        end = b"$%d\r\n%b\r\n" % (len(MARKER), MARKER)
        try:
            while not received.endswith(end):
                chunk = connection.recv(65536)
                if not chunk:
                    return received, True
                received += chunk
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            return received, True
        return received, False


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at ``points`` (offsets, any order)."""
    offsets = sorted({point % (len(data) + 1) for point in points} | {0, len(data)})
    return [data[start:end] for start, end in itertools.pairwise(offsets) if end > start]


def test_every_command_is_fuzzed_or_its_difference_named() -> None:
    from memories.optimization.cache import CacheManager
    from memories.sidecar.resp.commands import RespLimits, RespStatistics

    table = CommandTable(CacheManager("1MB"), RespLimits(1024, 64), RespStatistics(), None)
    fuzzed = set(COMMANDS) | {"client"}
    assert set(table.names()) == fuzzed | set(DIFFERENCES), "each command is fuzzed or its difference is named"
    assert not (set(COMMANDS) & set(DIFFERENCES))


@settings(
    max_examples=int(os.environ.get("MEMORIES_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stream=streams(), points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4))
def test_the_agent_answers_any_stream_as_redis_server_does(servers: Peers, stream: bytes, points: list[int]) -> None:
    chunks = cut(stream, points)
    agent = exchange(servers.agent_port, chunks)
    redis_server = exchange(servers.server.port, chunks)
    assert agent == redis_server, f"stream {stream!r} cut into {len(chunks)} parts"
