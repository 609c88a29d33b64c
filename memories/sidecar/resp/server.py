"""The RESP listener: TCP and/or unix-socket servers of :class:`~memories.sidecar.resp.connection.RespConnection`,
and the bookkeeping of the connections together (connection limit, read timeouts, the end-of-turn flush of
replies, the output-limit log, the server-wide budget of waiting commands, graceful stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from typing import Any

from memories.sidecar.resp.commands import CommandTable
from memories.sidecar.resp.connection import RespConnection
from memories.sidecar.resp.in_flight import WaitBudget

logger = logging.getLogger(__name__)

#: Seconds between two log lines about connections closed at the output limit (the rest are counted).
OUTPUT_LIMIT_LOG_INTERVAL = 60.0
#: How often :meth:`RespServer.close` looks whether the batches of SETs it waits for were answered (seconds).
_BATCH_POLL_SECONDS = 0.005


class RespServer:
    """Listeners plus the connection bookkeeping: limits, read timeouts, graceful stop.

    ``max_bulk_length``, ``max_request_size`` and ``max_output_buffer`` are bytes, ``read_timeout`` seconds
    (an incomplete request that makes no progress for that long is answered and closed). A connection with more
    than ``max_output_buffer`` bytes of unsent replies is closed.
    """

    def __init__(
        self,
        commands: CommandTable,
        *,
        max_connections: int,
        read_timeout: float,
        max_bulk_length: int,
        max_request_size: int,
        max_output_buffer: int,
    ) -> None:
        self.commands = commands
        self.statistics = commands.statistics
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.max_bulk_length = max_bulk_length
        self.max_request_size = max_request_size
        self.max_output_buffer = max_output_buffer
        self._output_limit_logged_at = -OUTPUT_LIMIT_LOG_INTERVAL
        self._output_limit_unlogged = 0  # closes since the last log line
        self.client_ids = itertools.count(1)
        self._unflushed: list[RespConnection] = []  # connections with replies queued in this turn
        self.stopping = False
        self._connections: set[RespConnection] = set()
        self._tasks: set[asyncio.Future[Any]] = set()  # commands in flight (tasks, or futures callbacks complete)
        #: Batches of SETs waiting for L3, all connections together (memories.sidecar.resp.set_batch): they are
        #: answered by a callback, not a future, so :meth:`close` counts them.
        self.batches_waiting = 0
        #: Commands waiting on the cache, all connections together (see memories.sidecar.resp.in_flight).
        self.wait_budget = WaitBudget()
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task[None] | None = None
        self.tcp_address: tuple[str, int] | None = None
        self.unix_socket: str | None = None

    async def start(self, host: str, port: int | None, unix_socket: str | None) -> None:
        """Listen on ``host:port`` (None = no TCP) and/or ``unix_socket``. Raises OSError when a bind fails."""
        loop = asyncio.get_running_loop()
        if port is not None:
            server = await loop.create_server(lambda: RespConnection(self), host, port, backlog=1024)
            self._servers.append(server)
            address = server.sockets[0].getsockname()
            self.tcp_address = (str(address[0]), int(address[1]))
        if unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(unix_socket)  # a socket left by a killed predecessor
            server = await loop.create_unix_server(lambda: RespConnection(self), unix_socket, backlog=1024)
            self._servers.append(server)
            self.unix_socket = unix_socket
        self._sweeper = loop.create_task(self._sweep())

    def flush_soon(self, connection: RespConnection) -> None:
        """Have ``connection`` write its queued replies when the event loop has served every ready connection."""
        if not self._unflushed:
            connection.loop.call_soon(self._flush)
        self._unflushed.append(connection)

    def _flush(self) -> None:
        connections = self._unflushed
        self._unflushed = []
        for connection in connections:
            connection.flush()

    def admit(self, connection: RespConnection) -> bool:
        """Register a new connection; False when the limit is reached or the server is stopping."""
        if self.stopping or len(self._connections) >= self.max_connections:
            self.statistics.connections_rejected += 1
            return False
        self._connections.add(connection)
        self.statistics.connections_total += 1
        self.statistics.connections_current = len(self._connections)
        return True

    def forget(self, connection: RespConnection) -> None:
        """Unregister a closed connection."""
        self._connections.discard(connection)
        self.statistics.connections_current = len(self._connections)

    def output_limit_reached(self, connection: RespConnection, unsent: int) -> None:
        """Count a connection closed at the output limit; log it, at most once per ``OUTPUT_LIMIT_LOG_INTERVAL``."""
        self.statistics.output_limit_closes += 1
        now = time.monotonic()
        if now - self._output_limit_logged_at < OUTPUT_LIMIT_LOG_INTERVAL:
            self._output_limit_unlogged += 1
            return
        logger.warning(
            "closed RESP client %d: %d bytes of unsent replies, over server.limits.maxOutputBuffer (%d bytes); "
            "%d more closed so since the last such message",
            connection.session.client_id,
            unsent,
            self.max_output_buffer,
            self._output_limit_unlogged,
        )
        self._output_limit_logged_at = now
        self._output_limit_unlogged = 0

    def track(self, task: asyncio.Future[Any]) -> None:
        """Keep a reference to an in-flight command until it finishes."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        interval = max(0.05, min(1.0, self.read_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            deadline = time.monotonic() - self.read_timeout
            for connection in list(self._connections):
                if connection.pending_bytes and connection.last_progress < deadline:
                    connection.time_out()

    def stop_accepting(self) -> None:
        """Close the listeners and stop reading new requests; in-flight commands continue."""
        self.stopping = True
        for server in self._servers:
            server.close()
        for connection in self._connections:
            connection.stop_reading()

    async def close(self, wait_seconds: float) -> None:
        """Wait up to ``wait_seconds`` for in-flight commands, then close every connection and cancel what is still
        in flight (a SET cancelled before L3 answered gets the shut-down error)."""
        self.stop_accepting()
        deadline = time.monotonic() + wait_seconds
        # A finished command may start the next queued one, so wait until no task or batch is left.
        while (self._tasks or self.batches_waiting) and (remaining := deadline - time.monotonic()) > 0:
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=min(remaining, _BATCH_POLL_SECONDS))
            else:
                await asyncio.sleep(min(remaining, _BATCH_POLL_SECONDS))
        for connection in list(self._connections):
            connection.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._tasks):
            task.cancel()
        self.commands.cancel_set_batches()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=0.5)
        if self.unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_socket)
