"""An in-memory RESP connection for tests: a transport that records writes, and helpers to drive it."""

from __future__ import annotations

import asyncio

from memories.optimization.cache import CacheManager
from memories.sidecar.resp.commands import CommandTable, RespLimits, RespStatistics
from memories.sidecar.resp.connection import RespConnection
from memories.sidecar.resp.protocol import encode_bulk
from memories.sidecar.resp.server import RespServer

MAX_BULK_LENGTH = 6000


class RecordingTransport:
    """Collects what the connection writes, one entry per ``write``; never blocks."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.reading = True
        #: What ``get_write_buffer_size`` answers: bytes a real transport would still hold unsent.
        self.unsent = 0

    @property
    def written(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        """Whether the connection lets the transport read, as asyncio's ``ReadTransport.is_reading``."""
        return self.reading

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def get_write_buffer_size(self) -> int:
        return self.unsent


def server(
    *,
    accelerate: bool,
    token: str | None = None,
    cache: CacheManager | None = None,
    max_output_buffer: int = 2**26,
) -> RespServer:
    """A server (not listening) for :func:`connect`; without ``cache`` an 8 KB L1, so some SETs evict or fit nowhere."""
    cache = CacheManager("8KB") if cache is None else cache
    limits = RespLimits(max_value_size=4500, max_key_length=12)
    table = CommandTable(cache, limits, RespStatistics(), token, accelerate=accelerate)
    return RespServer(
        table,
        max_connections=10,
        read_timeout=10,
        max_bulk_length=MAX_BULK_LENGTH,
        max_request_size=2**20,
        max_output_buffer=max_output_buffer,
    )


def connect(resp_server: RespServer) -> tuple[RespConnection, RecordingTransport]:
    """A connection of ``resp_server`` over a :class:`RecordingTransport`."""
    resp_connection = RespConnection(resp_server)
    transport = RecordingTransport()
    resp_connection.connection_made(transport)  # type: ignore[arg-type]
    return resp_connection, transport


def connection(
    *, accelerate: bool, token: str | None = None, cache: CacheManager | None = None
) -> tuple[RespConnection, RecordingTransport]:
    """A connection of a server of its own (see :func:`server`)."""
    return connect(server(accelerate=accelerate, token=token, cache=cache))


def frame(*arguments: bytes) -> bytes:
    """The RESP array of bulk strings a client sends for ``arguments``."""
    return b"*%d\r\n" % len(arguments) + b"".join(encode_bulk(argument) for argument in arguments)


async def settle(resp_connection: RespConnection) -> None:
    """Let the event loop run until the connection has answered everything and written the replies."""
    while not resp_connection.idle:  # noqa: ASYNC110 - polling the protocol object, which has no event to wait on
        await asyncio.sleep(0)
