"""Pipelines through the agent give redis-server's replies, command for command, while the agent runs the commands
of one pipeline that touch different keys at the same time (memories.sidecar.resp.in_flight): with L3, a pipeline
of writes waits about one Redis round trip, not one per command."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis_servers import CuttingProxy, RedisServer, redis_server
from tests.sidecar.conftest import RunningSidecar, sidecar_document

KEYS = [f"k{index}" for index in range(4)]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """Two redis-servers: the agents' L3, and the peer whose replies are the reference."""
    with redis_server(tmp_path / "l3") as l3, redis_server(tmp_path / "peer") as peer:
        yield l3, peer


def random_command(chooser: random.Random) -> tuple[Any, ...]:
    key, other = chooser.choice(KEYS), chooser.choice(KEYS)
    value = chooser.choice([b"1", b"41", b"x" * chooser.choice([3, 9000]), b"-7"])
    return chooser.choice(
        [
            ("SET", key, value),
            ("SET", key, value, "NX"),
            ("SET", key, value, "XX", "GET"),
            ("GET", key),
            ("GET", key),
            ("INCR", key),
            ("INCRBY", key, chooser.randint(-5, 5)),
            ("DECR", key),
            ("DEL", key),
            ("DEL", key, other),
            ("EXISTS", key),
            ("EXISTS", key, other),
            ("MGET", key, other),
            ("MSET", key, value, other, b"2"),
            ("EXPIRE", key, 1000),
            ("PERSIST", key),
            ("TTL", key),
            ("PING",),
        ]
    )


def replies(client: redis.Redis, commands: list[tuple[Any, ...]]) -> list[object]:
    """The replies of ``commands`` sent as one pipeline: values, or the error's text; TTLs as their sign."""
    pipeline = client.pipeline(transaction=False)
    for command in commands:
        pipeline.execute_command(*command)
    results = pipeline.execute(raise_on_error=False)
    shown: list[object] = []
    for command, result in zip(commands, results, strict=True):
        if isinstance(result, Exception):
            shown.append(f"error: {result}")
        elif command[0] == "TTL" and isinstance(result, int) and result > 0:
            shown.append("a TTL")
        else:
            shown.append(result)
    return shown


@pytest.mark.parametrize("tiers", ["l3", "l1-l2"])
def test_random_pipelines_answer_as_redis_server_does(
    start_sidecar: Callable[..., RunningSidecar],
    servers: tuple[RedisServer, RedisServer],
    tmp_path: Path,
    tiers: str,
) -> None:
    l3, peer = servers
    cache: dict[str, Any] = (
        {"l1Size": "4MB", "l3": {"url": l3.url, "keyPrefix": f"p:{uuid.uuid4().hex[:6]}:"}}
        if tiers == "l3"
        else {"l1Size": "64KB", "l2Size": "16MB", "l2Path": str(tmp_path / "l2")}  # 9 KB values: L1 evicts to L2
    )
    agent = redis.Redis(port=start_sidecar(sidecar_document({"cache": cache})).resp_port, socket_timeout=20)
    reference = peer.client()
    chooser = random.Random(20261202)
    for round_number in range(60):
        commands = [random_command(chooser) for _ in range(chooser.choice([2, 16, 120]))]
        expected, got = replies(reference, commands), replies(agent, commands)
        for index, (want, have) in enumerate(zip(expected, got, strict=True)):
            assert have == want, f"round {round_number}, command {index} {commands[index]}: {have!r} != {want!r}"


def test_a_pipeline_of_writes_waits_about_one_round_trip_to_l3(
    start_sidecar: Callable[..., RunningSidecar], servers: tuple[RedisServer, RedisServer]
) -> None:
    l3, _peer = servers
    latency = 0.05
    proxy = CuttingProxy(l3.port, latency_seconds=latency)
    try:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        document = sidecar_document({"cache": {"l1Size": "4MB", "l3": {"url": url, "timeout": "5s"}}})
        agent = redis.Redis(port=start_sidecar(document).resp_port, socket_timeout=20)
        agent.ping()
        pipeline = agent.pipeline(transaction=False)
        for index in range(20):
            pipeline.set(f"w{index}", index)
        pipeline.get("w3")
        started = time.monotonic()
        results = pipeline.execute()
        elapsed = time.monotonic() - started
        assert results == [True] * 20 + [b"3"]
        # One by one the 20 writes would wait 20 x 50 ms; together they wait for about one or two chunks.
        assert elapsed < 10 * latency, f"{elapsed:.3f} s for 20 pipelined writes to an L3 {latency * 1000:.0f} ms away"
        assert l3.client().get("memories:cache:w19") == b"19"
    finally:
        proxy.close()


@pytest.mark.parametrize(("coherence", "size"), [("tracking", 10), ("none", 10), ("tracking", 5000)])
def test_pipelined_sets_of_one_key_keep_their_order_and_the_last_wins(
    start_sidecar: Callable[..., RunningSidecar], servers: tuple[RedisServer, RedisServer], coherence: str, size: int
) -> None:
    """A pipeline of plain SETs leaves for L3 in batches (memories.sidecar.resp.set_batch; with 5 KB values several
    batches of one pipeline wait at once): Redis and the local copy both end with the last value of each key, and
    a read pipelined behind them sees it."""
    l3, _peer = servers
    prefix = f"o:{uuid.uuid4().hex[:6]}:"
    cache = {"l1Size": "16MB", "l3": {"url": l3.url, "keyPrefix": prefix, "coherence": coherence}}
    agent = redis.Redis(port=start_sidecar(sidecar_document({"cache": cache})).resp_port, socket_timeout=20)

    def value(round_number: int, index: int) -> bytes:
        return f"{round_number}-{index}".encode().ljust(size, b".")

    for round_number in range(20):
        pipeline = agent.pipeline(transaction=False)
        for index in range(16):
            pipeline.set("same", value(round_number, index))
            pipeline.set(f"other{index % 3}", value(round_number, index))
        pipeline.get("same")
        assert pipeline.execute() == [True] * 32 + [value(round_number, 15)]
        assert l3.client().get(f"{prefix}same") == value(round_number, 15)
        assert l3.client().get(f"{prefix}other0") == value(round_number, 15)
    if coherence == "none":
        # Without invalidations the agent serves its local copy: it is the last value, not an earlier one.
        l3.client().set(f"{prefix}same", b"behind the agent's back")
        assert agent.get("same") == value(19, 15)
        assert agent.get("other2") == value(19, 14)
