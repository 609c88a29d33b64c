"""Expire times as redis-server 7 reads them: SET's EX/PX/EXAT/PXAT, EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT and GETEX
get the same command on the agent and on a real redis-server, for a table of values (0, -1, the 64-bit limits,
times whose milliseconds overflow), and the replies — including what TTL and GET say afterwards — must agree."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis

from tests.sidecar.conftest import sidecar_factory
from tests.sidecar.redis_peer import peers, reply

INT64_MAX = 2**63 - 1
VALUES = [
    "0",
    "-1",
    "1",
    "100",
    "1.5",
    "abc",
    "-0",
    "01",
    str(INT64_MAX),
    str(INT64_MAX + 1),
    str(-(2**63)),
    str(INT64_MAX // 1000),  # seconds whose milliseconds fit, until now is added
    str(INT64_MAX // 1000 + 1),  # seconds whose milliseconds overflow
    str(-(2**63) // 1000),
    str(INT64_MAX - 1_000_000_000_000_000),  # milliseconds that overflow once now is added
    "1700000000",  # a time in the past for the absolute forms
    "4102444800",  # 2100-01-01 for the absolute forms
    "4102444800000",
]
COMMANDS = [
    *(["SET", "k", "v", option] for option in ("EX", "PX", "EXAT", "PXAT")),
    *([command, "k"] for command in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT")),
    *(["GETEX", "k", option] for option in ("EX", "PX", "EXAT", "PXAT")),
]


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """One agent and one redis-server for the whole table (the commands reset the key they use)."""
    with sidecar_factory() as start, peers(start, tmp_path_factory.mktemp("peers")) as both:
        yield both.clients()


def normalized(value: object) -> object:
    """TTLs of more than 3 digits as 'large' (they tick between the two servers' answers)."""
    if isinstance(value, int) and abs(value) >= 1000:
        return "large"
    if isinstance(value, tuple):
        return tuple(re.sub(r"\d{4,}", "N", part) if isinstance(part, str) else part for part in value)
    return value


# What TTL and GET may say of a key given a few milliseconds to live: it may expire between any two commands, on
# either server, so any of these is right (a GET that still finds the key after TTL said -2 is not).
EXPIRING = [[0, b"v"], [0, None], [-2, None]]


def gives_milliseconds_to_live(command: list[str]) -> bool:
    """Whether ``command`` sets a relative expiry of under a second (PX, PEXPIRE)."""
    value = command[-1]
    return (command[-2] == "PX" or command[0] == "PEXPIRE") and value.isdigit() and 0 < int(value) < 1000


def outcome(client: redis.Redis, command: list[str]) -> list[object]:
    client.delete("k")
    setup = reply(client, "SET", "k", "v")
    answers = [setup, reply(client, *command), reply(client, "TTL", "k"), reply(client, "GET", "k")]
    if gives_milliseconds_to_live(command) and answers[2:] in EXPIRING:
        answers[2:] = ["expiring"]
    return answers


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_expire_times_are_read_as_redis_server_reads_them(
    clients: tuple[redis.Redis, redis.Redis], command: list[str], value: str
) -> None:
    agent, redis_server = clients
    expected = [normalized(item) for item in outcome(redis_server, [*command, value])]
    assert [normalized(item) for item in outcome(agent, [*command, value])] == expected


@pytest.mark.parametrize(
    "command",
    [
        ["SET", "k", "v", "EX", "abc", "NX", "XX"],
        ["SET", "k", "v", "EX", "10", "EX", "20"],
        ["SET", "k", "v", "EX", "10", "PX", "20"],
        ["SET", "k", "v", "EX"],
        ["SET", "k", "v", "KEEPTTL", "EX", "1"],
        ["SET", "k", "v", "PXAT", "1", "GET"],
        ["SET", "k", "v", "EXAT", "1", "NX"],
        ["EXPIRE", "k", "10", "NX"],
        ["EXPIRE", "k", "10", "XX"],
        ["EXPIRE", "k", "10", "GT"],
        ["EXPIRE", "k", "10", "LT"],
        ["EXPIRE", "k", "abc", "FOO"],
        ["EXPIRE", "k", "10", "NX", "XX"],
        ["EXPIRE", "k", "10", "GT", "LT"],
        ["EXPIRE", "missing", str(INT64_MAX)],
        ["EXPIRE", "missing", "10"],
        ["GETEX", "k"],
        ["GETEX", "k", "PERSIST"],
        ["GETEX", "k", "EX", "10", "PERSIST"],
        ["GETEX", "k", "NX"],
        ["GETEX", "k", "EX"],
        ["GETEX", "missing", "EX", "0"],
        ["GETEX", "missing", "EX", "abc"],
        ["PERSIST", "k"],
    ],
    ids=" ".join,
)
def test_expiry_options_are_read_as_redis_server_reads_them(
    clients: tuple[redis.Redis, redis.Redis], command: list[str]
) -> None:
    agent, redis_server = clients
    expected = [normalized(item) for item in outcome(redis_server, command)]
    assert [normalized(item) for item in outcome(agent, command)] == expected


def test_ttl_options_then_expire_options_follow_redis_server(clients: tuple[redis.Redis, redis.Redis]) -> None:
    sequence = [
        ["SET", "k", "v", "EX", "100"],
        ["EXPIRE", "k", "50", "GT"],
        ["EXPIRE", "k", "200", "GT"],
        ["EXPIRE", "k", "300", "LT"],
        ["EXPIRE", "k", "150", "LT"],
        ["EXPIRE", "k", "10", "NX"],
        ["TTL", "k"],
        ["GETEX", "k", "PERSIST"],
        ["TTL", "k"],
        ["EXPIRE", "k", "10", "XX"],
        ["EXPIRE", "k", "10", "LT"],
        ["TTL", "k"],
        ["EXPIREAT", "k", "1700000000"],
        ["GET", "k"],
    ]
    answers = [[normalized(reply(client, *command)) for command in sequence] for client in clients]
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "sequence",
    [
        [["SET", "k", "v", "PXAT", "1"], ["DEL", "k"]],
        [["SET", "k", "v", "EXAT", "1"], ["EXPIRE", "k", "100"], ["TTL", "k"]],
        [["SET", "k", "v"], ["GETEX", "k", "PXAT", "1"], ["DEL", "k"]],
        [["SET", "k", "v"], ["GETEX", "k", "EXAT", "1"], ["EXISTS", "k"], ["UNLINK", "k"]],
        [["SET", "k", "v", "PXAT", "1"], ["DBSIZE"], ["INCR", "k"]],
    ],
    ids=lambda sequence: " / ".join(" ".join(command) for command in sequence),
)
def test_a_key_given_a_past_time_is_gone_for_every_later_command(
    clients: tuple[redis.Redis, redis.Redis], sequence: list[list[str]]
) -> None:
    answers = []
    for client in clients:
        client.flushall()
        answers.append([normalized(reply(client, *command)) for command in sequence])
    assert answers[0] == answers[1]
