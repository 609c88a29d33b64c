"""The HTTP data API's listener: aiohttp behind a cap on open connections.

Past ``server.limits.maxHttpConnections`` a new connection gets ``503`` and is closed at once, so a flood of
stalled clients cannot grow the agent's memory or starve the clients already connected, which keep being served.
Every connection, idle ones included, is closed after ``IDLE_TIMEOUT_SECONDS`` without a request (aiohttp's
keep-alive timeout, which also covers a request head that never completes). A body the API did not read
(a refused request's) is not drained: the connection is closed instead (aiohttp's lingering read is off).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import cast

from aiohttp import web

from memories.sidecar.config import LimitsConfig
from memories.sidecar.metrics import SidecarMetrics

#: Seconds a connection may stay without a request in progress (nginx's keepalive_timeout default).
IDLE_TIMEOUT_SECONDS = 75.0

_BUSY_BODY = json.dumps(
    {"error": {"code": "too_many_connections", "message": "the agent's HTTP connection limit is reached"}}
).encode()
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


class _RefusedConnection(asyncio.Protocol):
    """A connection past the cap: answered 503 and closed before anything of it is read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        transport.write(_BUSY_RESPONSE)
        transport.close()


class _CountedConnection(asyncio.Protocol):
    """aiohttp's protocol for one admitted connection, counted open until the connection is lost."""

    def __init__(self, handler: asyncio.Protocol, gate: ConnectionGate) -> None:
        self._handler = handler
        self._gate = gate

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.open -= 1
        self._handler.connection_lost(exc)


class ConnectionGate:
    """The protocol factory of the listening socket: admits a connection while fewer than the limit are open.

    A connection counts from the moment it is accepted (not when aiohttp registers it a loop turn later), so a
    burst of connects cannot overshoot the limit.
    """

    def __init__(self, server: web.Server, limits: Callable[[], LimitsConfig], metrics: SidecarMetrics) -> None:
        self._server = server
        self._limits = limits
        self._metrics = metrics
        #: Admitted connections not lost yet.
        self.open = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self._limits().max_http_connections:
            self._metrics.http_connections_rejected.inc()
            return _RefusedConnection()
        self.open += 1
        return _CountedConnection(self._server(), self)


class HttpListener:
    """Serves one aiohttp application on a TCP port with the connection cap; :meth:`close` stops it."""

    def __init__(
        self,
        app: web.Application,
        limits: Callable[[], LimitsConfig],
        metrics: SidecarMetrics,
        *,
        shutdown_timeout: float,
    ) -> None:
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=shutdown_timeout,
            lingering_time=0,
            keepalive_timeout=IDLE_TIMEOUT_SECONDS,
        )
        self._limits = limits
        self._metrics = metrics
        self._listening: asyncio.Server | None = None
        self.gate: ConnectionGate | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and serve; returns the bound address. Raises OSError when the port is taken."""
        await self._runner.setup()
        server = self._runner.server
        assert server is not None  # set by setup()
        self.gate = ConnectionGate(server, self._limits, self._metrics)
        gate = self.gate
        self._metrics.http_connections.set_function(lambda: gate.open)
        self._listening = await asyncio.get_running_loop().create_server(gate, host, port, reuse_address=True)
        address = self._listening.sockets[0].getsockname()
        return (str(address[0]), int(address[1]))

    async def close(self) -> None:
        """Stop accepting, let in-flight requests finish (within the shutdown timeout), close every connection."""
        if self._listening is not None:
            self._listening.close()
        await self._runner.cleanup()
