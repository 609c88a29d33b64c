"""Agents sharing one real Redis as L3, driven over their RESP ports by redis-py: what one agent's client writes,
another agent's client reads (never the old value past the bound), with TLS and an ACL user from the config."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis_servers import RedisServer, redis_server
from tests.sidecar.conftest import RunningSidecar, sidecar_document

#: Generous for a loaded 2-core machine; the measured bound is in docs/benchmarks.md.
INVALIDATION_SECONDS = 2.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as running:
        yield running


def agent_with_l3(start_sidecar: Callable[..., RunningSidecar], l3: dict[str, Any]) -> redis.Redis:
    return redis.Redis(port=sidecar_with_l3(start_sidecar, l3).resp_port, socket_timeout=10)


def sidecar_with_l3(start_sidecar: Callable[..., RunningSidecar], l3: dict[str, Any]) -> RunningSidecar:
    return start_sidecar(sidecar_document({"cache": {"l1Size": "4MB", "l3": l3}}))


def metric(sidecar: RunningSidecar, line_start: str) -> float:
    text = urllib.request.urlopen(f"{sidecar.ops_url}/metrics", timeout=5).read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    assert values, f"no metric {line_start} in /metrics"
    return values[0]


def read_until(client: redis.Redis, key: str, expected: bytes | None) -> float:
    started = time.monotonic()
    while (value := client.get(key)) != expected:
        assert time.monotonic() - started < INVALIDATION_SECONDS, f"{key}: still {value!r}, expected {expected!r}"
        time.sleep(0.001)
    return time.monotonic() - started


def test_what_one_agent_writes_another_reads_and_never_the_old_value(
    start_sidecar: Callable[..., RunningSidecar], server: RedisServer
) -> None:
    l3 = {"url": server.url, "keyPrefix": f"shop:{uuid.uuid4().hex[:6]}:"}
    first, second = agent_with_l3(start_sidecar, l3), agent_with_l3(start_sidecar, l3)
    assert first.set("k", b"v1")
    assert second.get("k") == b"v1"  # now cached in the second agent's L1
    assert first.set("k", b"v2")
    read_until(second, "k", b"v2")
    assert first.delete("k") == 1
    read_until(second, "k", None)
    assert first.set("counter", 10)
    for client in (first, second) * 5:
        client.incr("counter")
    assert first.get("counter") == second.get("counter") == b"20"
    assert second.set("lock", "a", nx=True) and not first.set("lock", "b", nx=True)
    assert first.get("lock") == b"a"


def test_invalidations_and_l3_state_are_in_the_metrics(
    start_sidecar: Callable[..., RunningSidecar], server: RedisServer
) -> None:
    l3 = {"url": server.url, "keyPrefix": f"metrics:{uuid.uuid4().hex[:6]}:"}
    writer = agent_with_l3(start_sidecar, l3)
    reader_sidecar = sidecar_with_l3(start_sidecar, l3)
    reader = redis.Redis(port=reader_sidecar.resp_port, socket_timeout=10)
    writer.set("k", b"v1")
    assert reader.get("k") == b"v1"
    writer.set("k", b"v2")
    read_until(reader, "k", b"v2")
    assert metric(reader_sidecar, "memories_cache_l3_invalidations_applied_total") >= 1
    assert metric(reader_sidecar, "memories_cache_l3_invalidated_keys_total") >= 1
    assert metric(reader_sidecar, 'memories_cache_l3_info{coherence="tracking",mode="standalone"}') == 1
    assert metric(reader_sidecar, 'memories_cache_l3_nodes{state="connected"}') == 1
    assert metric(reader_sidecar, "memories_cache_l3_local_copies_trusted") == 1
    server.client().execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    read_until(reader, "k", b"v2")
    assert metric(reader_sidecar, "memories_cache_l3_flushes_total") >= 1
    assert metric(reader_sidecar, "memories_cache_l3_connections_lost_total") >= 1


def test_concurrent_increments_through_two_agents_are_not_lost(
    start_sidecar: Callable[..., RunningSidecar], server: RedisServer
) -> None:
    l3 = {"url": server.url, "keyPrefix": f"count:{uuid.uuid4().hex[:6]}:"}
    clients = [agent_with_l3(start_sidecar, l3) for _ in range(2)]
    # Both agents share this process (and its GIL) with the clients: keep the count modest.
    threads = [threading.Thread(target=lambda c=c: [c.incr("n") for _ in range(100)]) for c in clients * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert server.client().get(f"{l3['keyPrefix']}n") == b"400"


def test_tls_with_the_ca_from_the_config(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    with redis_server(tmp_path / "tls", tls=True) as tls_server:
        assert tls_server.tls is not None
        client = agent_with_l3(
            start_sidecar, {"url": tls_server.url, "tls": {"caFile": str(tls_server.tls.ca_file)}, "keyPrefix": "t:"}
        )
        assert client.set("secure", b"over tls")
        assert tls_server.client().get("t:secure") == b"over tls"


def test_tls_with_an_untrusted_certificate_fails_with_a_clear_error(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    with redis_server(tmp_path / "tls", tls=True) as tls_server:
        client = agent_with_l3(start_sidecar, {"url": tls_server.url, "timeout": "500ms"})  # system CAs only
        with pytest.raises(redis.ResponseError, match="l3: cannot connect .*certificate verify failed"):
            client.set("k", b"v")


def test_acl_user_and_password_from_the_environment(
    start_sidecar: Callable[..., RunningSidecar], server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = server.client()
    admin.execute_command(
        "ACL", "SETUSER", "agent", "on", ">s3cret", "~acl:*", "resetchannels", "+@read", "+@write", "+@keyspace",
        "+@connection", "+client|tracking", "-client|kill", "-flushall", "-flushdb",
    )  # fmt: skip
    monkeypatch.setenv("MEMORIES_L3_USERNAME", "agent")
    monkeypatch.setenv("MEMORIES_L3_PASSWORD", "s3cret")
    client = agent_with_l3(start_sidecar, {"url": server.url, "keyPrefix": "acl:", "auth": {}})
    assert client.set("k", b"as agent")
    assert admin.get("acl:k") == b"as agent"
    assert client.incr("n") == 1


def test_a_wrong_password_is_reported_on_every_command(
    start_sidecar: Callable[..., RunningSidecar], server: RedisServer
) -> None:
    server.client().execute_command("ACL", "SETUSER", "agent", "on", ">right", "~*", "+@all")
    client = agent_with_l3(start_sidecar, {"url": server.url, "auth": {"username": "agent", "password": "wrong"}})
    with pytest.raises(redis.ResponseError, match="refused the credentials"):
        client.set("k", b"v")


def test_a_set_whose_redis_goes_silent_is_answered_with_an_error_then_served_again(
    start_sidecar: Callable[..., RunningSidecar], server: RedisServer
) -> None:
    """A plain SET waits for Redis without a task (callbacks complete its reply): a Redis that stops answering
    fails it with the documented error, not a hang or a false OK, and the client's connection stays usable."""
    l3 = {"url": server.url, "keyPrefix": f"silent:{uuid.uuid4().hex[:6]}:", "timeout": "500ms"}
    client = agent_with_l3(start_sidecar, l3)
    assert client.set("k", b"v1")
    server.pause()
    try:
        with pytest.raises(redis.ResponseError, match="l3: .*sent nothing"):
            client.set("k", b"v2")
    finally:
        server.resume()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert client.set("k", b"v3")
            break
        except redis.ResponseError:
            assert time.monotonic() < deadline, "the agent did not reconnect to Redis"
            time.sleep(0.05)
    assert client.get("k") == b"v3"
    assert server.client().get(f"{l3['keyPrefix']}k") == b"v3"
