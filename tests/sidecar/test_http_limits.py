"""The HTTP listener's limits over real sockets: stalled bodies time out, connections past the cap are refused
at once while open ones keep being served, and clients that leave mid-request are counted, not logged as errors."""

from __future__ import annotations

import json
import logging
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.sidecar.conftest import RunningSidecar, sidecar_document
from tests.sidecar.http_raw import connect, read_response, request_head


def sample(sidecar: RunningSidecar, name: str) -> float:
    value = sidecar.agent.metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def responses_within(sockets: list[socket.socket], seconds: float) -> dict[socket.socket, bytes]:
    """What each socket received until it was closed by the agent, for those closed within ``seconds``."""
    received = {sock: b"" for sock in sockets}
    closed: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, sock)
        deadline = time.monotonic() + seconds
        while len(closed) < len(sockets) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.data
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[sock] += chunk
                else:
                    closed[sock] = received[sock]
                    selector.unregister(sock)
    return closed


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_stalled_bodies_are_refused_after_the_body_timeout_and_their_connections_closed(
    start_sidecar: Callable[..., RunningSidecar], sockets: ExitStack
) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"httpBodyTimeout": "1s"}}}))
    stalled = []
    for index in range(1000):
        sock = sockets.enter_context(connect(sidecar.http_url))
        sock.sendall(request_head("PUT", f"/v1/cache/stalled:{index}", {"Content-Length": "65536"}) + b"x" * 1000)
        stalled.append(sock)
    closed = responses_within(stalled, seconds=10)  # each one about a second after its last byte
    assert len(closed) == 1000, "every stalled connection is dropped"
    for answer in closed.values():
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body)["error"]["code"] == "body_timeout"
    assert sample(sidecar, "memories_sidecar_http_body_timeouts_total") == 1000
    wait_for(lambda: sample(sidecar, "memories_sidecar_http_connections") == 0, 5)
    assert sidecar.call(sidecar.agent.engine.cache.get("stalled:0")) is None


def test_a_body_that_keeps_arriving_is_not_cut_by_the_timeout(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"httpBodyTimeout": "0.5s"}}}))
    value = bytes(range(256)) * 40
    with connect(sidecar.http_url) as sock:
        sock.sendall(request_head("PUT", "/v1/cache/slow", {"Content-Length": str(len(value))}))
        for offset in range(0, len(value), 1024):  # 10 pieces over 3 s: longer than the timeout, never idle as long
            time.sleep(0.3)
            sock.sendall(value[offset : offset + 1024])
        assert read_response(sock)[0] == 204
    assert sidecar.call(sidecar.agent.engine.cache.get("slow")) == value


def test_connections_past_the_cap_are_refused_at_once_while_open_ones_are_served(
    start_sidecar: Callable[..., RunningSidecar], sockets: ExitStack
) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"maxHttpConnections": 20}}}))
    served = sockets.enter_context(connect(sidecar.http_url))
    burst = [sockets.enter_context(connect(sidecar.http_url)) for _ in range(200)]
    refused = responses_within(burst, seconds=3)
    assert len(refused) == 200 - 19, "one slot is the served client's, 19 of the burst got the others"
    for answer in refused.values():
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert json.loads(body)["error"]["code"] == "too_many_connections"
    assert sample(sidecar, "memories_sidecar_http_connections_rejected_total") == 181
    value = bytes(range(256)) * 64
    for round_number in range(3):  # the admitted client is served throughout, on its kept-alive connection
        served.setblocking(True)
        served.sendall(request_head("PUT", f"/v1/cache/k{round_number}", {"Content-Length": str(len(value))}) + value)
        assert read_response(served)[0] == 204
        served.sendall(request_head("GET", f"/v1/cache/k{round_number}", {}))
        status, _, body = read_response(served)
        assert (status, body) == (200, value)
    for sock in burst:
        if sock not in refused:
            sock.close()
    wait_for(lambda: sample(sidecar, "memories_sidecar_http_connections") == 1, 5)
    with connect(sidecar.http_url) as again:  # slots are given back
        again.sendall(request_head("GET", "/v1/cache/k0", {}))
        assert read_response(again)[0] == 200


def test_clients_leaving_mid_request_are_counted_and_logged_quietly(
    sidecar: RunningSidecar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for index in range(200):
        with connect(sidecar.http_url) as sock:
            path = "/v1/compress" if index % 2 else f"/v1/cache/left:{index}"
            method = "POST" if index % 2 else "PUT"
            sock.sendall(request_head(method, path, {"Content-Length": str(1 << 20)}) + b"x" * 300_000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    wait_for(lambda: sample(sidecar, "memories_sidecar_http_client_disconnects_total") == 200, 10)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []
    with connect(sidecar.http_url) as sock:  # and the agent serves on
        sock.sendall(request_head("PUT", "/v1/cache/after", {"Content-Length": "5"}) + b"value")
        assert read_response(sock)[0] == 204
