"""A request is refused on its headers, before its body is read: bad tokens (401), declared bodies over the limit
(413), ``Expect: 100-continue`` answered the same way; a refused body is never drained or buffered."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sidecar.conftest import RunningSidecar, sidecar_document
from tests.sidecar.http_raw import connect, read_response, request_head, resident_bytes, send_until_refused

GIB = 1 << 30
MIB = 1 << 20


@pytest.fixture
def guarded_sidecar(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> RunningSidecar:
    (tmp_path / "token").write_text("t0ken")
    limits = {"maxValueSize": "1Mi", "maxRequestSize": "2Mi"}
    return start_sidecar(sidecar_document({"server": {"authTokenFile": str(tmp_path / "token"), "limits": limits}}))


@pytest.fixture
def client(guarded_sidecar: RunningSidecar) -> Iterator[socket.socket]:
    with connect(guarded_sidecar.http_url) as sock:
        yield sock


AUTHORIZED = {"Authorization": "Bearer t0ken"}


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/v1/cache/k", {}, 401, "unauthorized"),
        ("/v1/cache/k", {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ("/v1/cache/k", AUTHORIZED, 413, "too_large"),
        ("/v1/dedup/blobs", AUTHORIZED, 413, "too_large"),
    ],
)
def test_a_refused_request_is_answered_before_its_body_and_the_body_is_not_read(
    client: socket.socket, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    method = "POST" if path == "/v1/dedup/blobs" else "PUT"
    before = resident_bytes()
    client.sendall(request_head(method, path, {**headers, "Content-Length": str(GIB)}) + b"x" * 65536)
    answered, _, body = read_response(client)  # the 1 GiB body is far from complete
    assert (answered, json.loads(body)["error"]["code"]) == (status, code)
    # The agent closes instead of draining the body: what a client can still push is what the sockets' buffers
    # hold (a few MiB on loopback), not the rest of the gigabyte.
    taken = send_until_refused(client, 512 * MIB, seconds=5)
    assert taken < 64 * MIB
    assert resident_bytes() - before < 32 * MIB


def test_expect_100_continue_without_the_token_gets_401_instead_of_continue(client: socket.socket) -> None:
    client.sendall(request_head("PUT", "/v1/cache/k", {"Content-Length": str(GIB), "Expect": "100-continue"}))
    status, _, body = read_response(client)
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"


def test_expect_100_continue_over_the_limit_gets_413_instead_of_continue(client: socket.socket) -> None:
    headers = {**AUTHORIZED, "Content-Length": str(2 * MIB), "Expect": "100-continue"}
    client.sendall(request_head("PUT", "/v1/cache/k", headers))
    status, _, body = read_response(client)
    assert status == 413
    assert "value of 2097152 bytes exceeds the limit of 1048576" in json.loads(body)["error"]["message"]


def test_expect_100_continue_within_the_limit_continues_and_stores_the_value(
    client: socket.socket, guarded_sidecar: RunningSidecar
) -> None:
    value = bytes(range(256)) * 4096  # 1 MiB, every byte value
    headers = {**AUTHORIZED, "Content-Length": str(len(value)), "Expect": "100-continue"}
    client.sendall(request_head("PUT", "/v1/cache/k", headers))
    assert client.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.sendall(value)
    assert read_response(client)[0] == 204
    client.sendall(request_head("GET", "/v1/cache/k", AUTHORIZED))  # the same (kept-alive) connection
    status, _, body = read_response(client)
    assert (status, body) == (200, value)
