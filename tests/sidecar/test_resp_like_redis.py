"""Small differences from redis-server that issue 11 found, now gone: the same bytes to the agent and to a real
redis-server (without and with auth) get the same bytes back and the same close."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sidecar.conftest import RunningSidecar
from tests.sidecar.redis_peer import TOKEN, Peers, peers

WITHOUT_AUTH = [
    pytest.param(b"*-5\r\nPING\r\n", id="negative-count-ignored"),
    pytest.param(b"*-1\r\nPING\r\n", id="minus-one-count-ignored"),
    pytest.param(b"*-9223372036854775808\r\nPING\r\n", id="int64-min-count-ignored"),
    pytest.param(b"*-0\r\nPING\r\n", id="minus-zero-count"),
    pytest.param(b"*-99999999999999999999\r\nPING\r\n", id="count-below-int64"),
    pytest.param(b"*+1\r\n$4\r\nPING\r\n", id="plus-sign-count"),
    pytest.param(b"*01\r\n$4\r\nPING\r\n", id="leading-zero-count"),
    pytest.param(b"*1\r\n$04\r\nPING\r\n", id="leading-zero-length"),
    pytest.param(b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n", id="leading-zero-length-of-a-get"),
    pytest.param(b"*1\r\n$-0\r\nPING\r\n", id="minus-zero-length"),
    pytest.param(b"*1\r\n$+4\r\nPING\r\n", id="plus-sign-length"),
    pytest.param(b"*1\r\n$0\r\n\r\n", id="empty-command-name"),
    pytest.param(b"*1\r\n$4\r\nPINGx\r\nPING\r\n", id="bulk-followed-by-other-bytes"),
    pytest.param(b"*1\r\n$4\r\nPING\n\nPING\r\n", id="bulk-ended-by-two-newlines"),
    pytest.param(b"SET a 1\r\nFLUSHALL JUNK\r\nGET a\r\n", id="flushall-junk-flushes-nothing"),
    pytest.param(b"SET a 1\r\nFLUSHDB JUNK\r\nFLUSHDB ASYNC ASYNC\r\nGET a\r\n", id="flushdb-junk-flushes-nothing"),
    pytest.param(b"SET a 1\r\nFLUSHALL ASYNC\r\nGET a\r\n", id="flushall-async"),
    pytest.param(b"SET a 1\r\nflushall sync\r\nGET a\r\n", id="flushall-sync"),
    pytest.param(b"SET a 1\r\nFLUSHDB\r\nGET a\r\n", id="flushdb"),
    pytest.param(b"SELECT abc\r\nSELECT 0\r\nSELECT -1\r\nSELECT 16\r\nSELECT 01\r\n", id="select"),
    pytest.param(b"AUTH pw\r\n", id="auth-without-a-password-configured"),
    pytest.param(b"AUTH default anything\r\n", id="auth-default-user-without-a-password"),
    pytest.param(b"AUTH bob pw\r\n", id="auth-unknown-user"),
    pytest.param(b"AUTH a b c\r\n", id="auth-too-many-arguments"),
    pytest.param(b"HELLO 3 AUTH bob pw\r\n", id="hello-auth-unknown-user"),
]
WITH_AUTH = [
    pytest.param(b"AUTH bob " + TOKEN.encode() + b"\r\nGET a\r\n", id="unknown-user-with-the-token"),
    pytest.param(b"AUTH DEFAULT " + TOKEN.encode() + b"\r\nGET a\r\n", id="user-names-are-case-sensitive"),
    pytest.param(b"AUTH default " + TOKEN.encode() + b"\r\nGET a\r\n", id="default-user-with-the-token"),
    pytest.param(b"AUTH default wrong\r\nGET a\r\n", id="default-user-with-a-wrong-token"),
    pytest.param(b"AUTH " + TOKEN.encode() + b"\r\nGET a\r\n", id="token-alone"),
    pytest.param(b"HELLO 3 AUTH bob " + TOKEN.encode() + b"\r\n", id="hello-auth-unknown-user"),
    pytest.param(b"*-5\r\nPING\r\n", id="negative-count-before-auth"),
]


@pytest.fixture
def without_auth(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> Iterator[Peers]:
    with peers(start_sidecar, tmp_path) as both:
        yield both


@pytest.fixture
def with_auth(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> Iterator[Peers]:
    with peers(start_sidecar, tmp_path, token=TOKEN) as both:
        yield both


@pytest.mark.parametrize("payload", WITHOUT_AUTH)
def test_answers_without_auth_match_redis_server(without_auth: Peers, payload: bytes) -> None:
    agent, redis_server = without_auth.both(payload)
    assert agent == redis_server


@pytest.mark.parametrize("payload", WITH_AUTH)
def test_answers_with_auth_match_redis_server(with_auth: Peers, payload: bytes) -> None:
    agent, redis_server = with_auth.both(payload)
    assert agent == redis_server
