"""Benchmark: the Python cost of the sidecar's write-through SET, in process, without system calls.

The agent's RESP connections and its L3 connection get fake transports: requests are fed to the RESP connections
(``--clients`` connections, ``--pipeline`` SETs each per round), every command the L3 connection writes is answered
at once by feeding its reply back, and the event loop turns until every client has its replies. What is measured is
CPU time per SET (``time.process_time``), best of 5, with the agent's GC thresholds — the part of the agent's cost
that is Python, which redis-benchmark on a loaded 2-core machine cannot separate from scheduling. The requests are
made before the clock starts. With ``--random-keys`` each key is drawn at random among 100 000, as
``redis-benchmark -r 100000`` does, so that L1's lookups miss the CPU's caches as in the agent. A real
redis-server (started here) is used only for the L3 handshake. Run it with each checkout's interpreter to compare.

    .venv/bin/python bench/write_through_path.py [--clients 50] [--pipeline 1] [--rounds 200] [--size 100] [--random-keys]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import itertools
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from sidecar_resp import RedisServer

from memories.optimization.cache import CacheManager
from memories.optimization.cache.remote.settings import NodeAddress, RemoteSettings


def _resp_class(name: str, *modules: str) -> Any:
    """``name`` from the first of ``modules`` that defines it: the RESP modules moved over time, and older
    checkouts run this as the baseline of an A/B."""
    for module in modules:
        with contextlib.suppress(ImportError):
            found = getattr(importlib.import_module(module), name, None)
            if found is not None:
                return found
    raise ImportError(f"no {name} in {', '.join(modules)}")


_COMMANDS = ("memories.sidecar.resp.commands", "memories.sidecar.resp_commands")
CommandTable = _resp_class("CommandTable", *_COMMANDS)
RespLimits = _resp_class("RespLimits", *_COMMANDS)
RespStatistics = _resp_class("RespStatistics", *_COMMANDS)
RespServer = _resp_class("RespServer", "memories.sidecar.resp.server", "memories.sidecar.resp_server")
RespConnection = _resp_class(
    "RespConnection",
    "memories.sidecar.resp.connection",
    "memories.sidecar.resp.server",
    "memories.sidecar.resp_server",
)
UNLIMITED = 1 << 30
#: How many keys the SETs write (as ``redis-benchmark -r 100000``).
_KEY_SPACE = 100_000
#: Rounds of requests made in advance and sent again in turn (building them is not measured).
_REQUEST_ROUNDS = 64


class FakeTransport:
    """Keeps what is written; reading can be paused and resumed."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def take(self) -> bytes:
        data = b"".join(self.written)
        self.written.clear()
        return data

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 0


def _l3_replies(written: bytes, value_size: int) -> bytes:
    """Redis' replies to the commands the L3 connection wrote, in order: +OK to each SET, +PONG to the heartbeat
    PING. The keys and values written here hold neither ``*`` nor ``P``: without a PING (``find`` of one byte
    is a ``memchr``) the SETs are counted by their ``*``, each search starting past the previous SET's value,
    instead of splitting the commands apart (with 4 KiB values that split was most of the measured time)."""
    if written.find(b"P") < 0:
        sets, offset = 0, written.find(b"*")
        while offset >= 0:
            sets += 1
            offset = written.find(b"*", offset + value_size)
        return b"+OK\r\n" * sets
    commands = written.split(b"*")[1:]
    return b"".join(b"+PONG\r\n" if c.startswith(b"1\r\n$4\r\nPING") else b"+OK\r\n" for c in commands)


async def measure(
    port: int, clients: int, pipeline: int, rounds: int, size: int = 100, random_keys: bool = False
) -> float:
    """CPU microseconds per SET of ``size``-byte values, best of 5 batches of ``rounds`` rounds; the keys are
    :data:`_KEY_SPACE` keys in turn, or drawn at random among them (``random_keys``, as ``redis-benchmark -r``)."""
    cache = CacheManager("256MB", l3=RemoteSettings(addresses=(NodeAddress("127.0.0.1", port),), prefix="path:"))
    await cache.start()
    assert cache._l3 is not None
    (node,) = cache._l3.client._connections.values()
    l3_transport = FakeTransport()
    node._transport = l3_transport  # type: ignore[assignment]
    limits = RespLimits(max_value_size=UNLIMITED, max_key_length=UNLIMITED)
    table = CommandTable(cache, limits, RespStatistics(), None)
    server = RespServer(
        table,
        max_connections=clients,
        read_timeout=60,
        max_bulk_length=UNLIMITED,
        max_request_size=UNLIMITED,
        max_output_buffer=UNLIMITED,
    )
    connections: list[tuple[Any, FakeTransport]] = []
    for _ in range(clients):
        connection, transport = RespConnection(server), FakeTransport()
        connection.connection_made(transport)
        connections.append((connection, transport))
    value_argument = b"\r\n$%d\r\n%b\r\n" % (size, b"x" * size)
    # Each client's requests of _REQUEST_ROUNDS rounds, made before anything is measured and then sent again in turn.
    draw = random.Random(0)
    numbers = itertools.count() if not random_keys else iter(lambda: draw.randrange(_KEY_SPACE), None)
    requests = [
        [
            b"".join(  # one command: that command, not a copy
                b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d%b" % (next(numbers) % _KEY_SPACE, value_argument)
                for _ in range(pipeline)
            )
            for _ in connections
        ]
        for _ in range(_REQUEST_ROUNDS)
    ]
    sent = 0

    async def one_round() -> None:
        nonlocal sent
        for (connection, _transport), request in zip(connections, requests[sent % _REQUEST_ROUNDS], strict=True):
            connection.data_received(request)
        sent += 1
        answered = 0
        while answered < clients * pipeline:
            await asyncio.sleep(0)
            written = l3_transport.take()
            if written:
                node.data_received(_l3_replies(written, size))
            for _connection, transport in connections:
                answered += transport.take().count(b"+OK\r\n")

    for _ in range(50):
        await one_round()
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            await one_round()
        best = min(best, (time.process_time() - started) / (rounds * clients * pipeline) * 1e6)
    await cache.close()
    return best


def _agent_gc_thresholds() -> None:
    """The cyclic GC's thresholds the agent runs with (``memories.sidecar.cli.GC_THRESHOLDS``), where the checkout
    has them: the defaults collect far more often than in the agent."""
    with contextlib.suppress(ImportError):
        thresholds = getattr(importlib.import_module("memories.sidecar.cli"), "GC_THRESHOLDS", None)
        if thresholds is not None:
            gc.set_threshold(*thresholds)


def main() -> None:
    _agent_gc_thresholds()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--size", type=int, default=100, help="value bytes")
    parser.add_argument(
        "--random-keys",
        action="store_true",
        help="draw each key at random (as redis-benchmark -r does: L1's lookups then miss the CPU's caches)",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(Path(directory))
        try:
            cost = uvloop.run(
                measure(
                    redis.port,
                    arguments.clients,
                    arguments.pipeline,
                    arguments.rounds,
                    arguments.size,
                    arguments.random_keys,
                )
            )
        finally:
            redis.stop()
    keys = "random keys" if arguments.random_keys else "keys in turn"
    print(
        f"{cost:.2f} us of CPU a SET of {arguments.size} B ({arguments.clients} clients, pipeline {arguments.pipeline},"
        f" {keys}; best of 5)"
    )


if __name__ == "__main__":
    main()
