"""Memory before authentication: with auth on, the agent refuses what redis-server refuses from a client that has
not authenticated (more than 10 arguments, an argument over 16 KiB) at once, with redis-server's own words, and
closes; what is pipelined behind a good AUTH is held to the full limits again. Compared with a real redis-server
(``--requirepass``) byte for byte."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sidecar.conftest import RunningSidecar
from tests.sidecar.redis_peer import TOKEN, Answer, Peers, peers
from tests.sidecar.resp_harness import frame


@pytest.fixture
def with_auth(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> Iterator[Peers]:
    with peers(start_sidecar, tmp_path, token=TOKEN) as both:
        yield both


AUTH = frame(b"AUTH", TOKEN.encode())
LARGE_SET = frame(b"SET", b"k", b"x" * 20_000)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b"*10\r\n", Answer(b"", closed=False), id="ten-arguments-wait"),
        pytest.param(
            b"*11\r\n",
            Answer(b"-ERR Protocol error: unauthenticated multibulk length\r\n", closed=True),
            id="eleven-arguments-refused",
        ),
        pytest.param(
            b"*10241\r\n",
            Answer(b"-ERR Protocol error: unauthenticated multibulk length\r\n", closed=True),
            id="many-arguments-refused",
        ),
        pytest.param(b"*2\r\n$3\r\nGET\r\n$16384\r\n", Answer(b"", closed=False), id="16-KiB-argument-waits"),
        pytest.param(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$50000000\r\n",
            Answer(b"-ERR Protocol error: unauthenticated bulk length\r\n", closed=True),
            id="50-MB-value-refused-before-it-arrives",
        ),
        pytest.param(
            b"*1\r\n$16385\r\n",
            Answer(b"-ERR Protocol error: unauthenticated bulk length\r\n", closed=True),
            id="argument-over-16-KiB-refused",
        ),
        pytest.param(AUTH + LARGE_SET + frame(b"GET", b"k"), None, id="large-set-pipelined-behind-auth"),
        pytest.param(
            frame(b"AUTH", b"wrong") + LARGE_SET,
            Answer(
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                b"-ERR Protocol error: unauthenticated bulk length\r\n",
                closed=True,
            ),
            id="large-set-behind-a-wrong-auth-refused",
        ),
        pytest.param(frame(b"GET", b"k") + AUTH + frame(b"MGET", *[b"k"] * 20), None, id="mget-behind-auth"),
        pytest.param(b"AUTH " + TOKEN.encode() + b"\r\n" + LARGE_SET, None, id="inline-auth"),
    ],
)
def test_unauthenticated_limits_match_redis_server(with_auth: Peers, payload: bytes, expected: Answer | None) -> None:
    agent, redis_server = with_auth.both(payload)
    assert agent == redis_server
    if expected is not None:
        assert agent == expected
    else:
        assert b"+OK\r\n" in agent.replies and not agent.closed  # the AUTH, then the command behind it


def test_a_partial_large_set_before_auth_holds_no_memory(with_auth: Peers) -> None:
    # Issue 11: five such clients made the agent buffer 500 MB before answering NOAUTH.
    agent, redis_server = with_auth.both(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$50000000\r\n" + b"x" * 1_000_000)
    assert agent == redis_server
    assert agent.closed
