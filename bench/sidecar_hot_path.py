"""Benchmark: the RESP hot path in process (parse, dispatch, cache, reply), without sockets.

Feeds pre-encoded SET and GET batches (100 B and 4 KiB values, 1 or 16 commands per read) to a
``RespConnection`` with a fake transport and an L1-only ``CacheManager``; prints the best of 5
passes in microseconds per command, for the compiled GET/SET fast path and for the pure-Python path.
After each read the event loop runs until the connection has answered it (its turns and its end-of-turn write).
Complements ``sidecar_resp.py``: no redis-benchmark sharing the CPUs, so small changes to the hot path show.

    .venv/bin/python bench/sidecar_hot_path.py
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

from memories.optimization.cache import CacheManager
from memories.sidecar.resp.commands import CommandTable, RespLimits, RespStatistics
from memories.sidecar.resp.connection import RespConnection
from memories.sidecar.resp.server import RespServer


class FakeTransport:
    """Counts written bytes; the connection never blocks."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def frame(*arguments: bytes) -> bytes:
    return b"*%d\r\n" % len(arguments) + b"".join(b"$%d\r\n%b\r\n" % (len(item), item) for item in arguments)


def connection_to_new_cache(*, accelerate: bool) -> RespConnection:
    cache = CacheManager("256MB")
    limits = RespLimits(max_value_size=512 * 2**20, max_key_length=2**20)
    table = CommandTable(cache, limits, RespStatistics(), None, accelerate=accelerate)
    server = RespServer(
        table,
        max_connections=100,
        read_timeout=10,
        max_bulk_length=512 * 2**20,
        max_request_size=2**30,
        max_output_buffer=2**30,
    )
    connection = RespConnection(server)
    connection.connection_made(FakeTransport())  # type: ignore[arg-type]
    return connection


async def answered(connection: RespConnection) -> None:
    """Run the event loop until ``connection`` answered everything it read: a read larger than one turn's budget
    is answered over several turns, and replies are written at the end of a turn, as in the real server."""
    while not connection.idle:  # noqa: ASYNC110 - yielding turns of the loop is the point
        await asyncio.sleep(0)


def set_frame(value: bytes, index: int) -> bytes:
    """``SET key:<index> value`` as a RESP request."""
    return frame(b"SET", b"key:%012d" % index, value)


def get_frame(index: int) -> bytes:
    """``GET key:<index>`` as a RESP request."""
    return frame(b"GET", b"key:%012d" % index)


async def main() -> None:
    connections = {
        "compiled": connection_to_new_cache(accelerate=True),
        "pure Python": connection_to_new_cache(accelerate=False),
    }
    for size in (100, 4096):
        value = b"x" * size
        makers: list[tuple[str, Callable[[int], bytes]]] = [
            ("SET", partial(set_frame, value)),
            ("GET", get_frame),
        ]
        for name, make in makers:
            for pipeline in (1, 16):
                batches = [
                    b"".join(make((batch * pipeline + offset) % 100_000) for offset in range(pipeline))
                    for batch in range(20_000 // pipeline)
                ]
                results = []
                for path, connection in connections.items():
                    best = float("inf")
                    for _ in range(5):
                        started = time.perf_counter()
                        for batch_bytes in batches:
                            connection.data_received(batch_bytes)
                            await answered(connection)
                        best = min(best, time.perf_counter() - started)
                    results.append(f"{path} {best / (len(batches) * pipeline) * 1e6:6.2f}")
                print(f"{name} {size:5d} B -P {pipeline:<2d}: {', '.join(results)} µs per command", flush=True)


if __name__ == "__main__":
    try:
        import uvloop  # the agent's event loop when installed
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
