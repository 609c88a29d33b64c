"""The RESP2 server: asyncio Protocol connections on TCP and/or a unix socket.

The hot path stays synchronous: a read is parsed, every command whose reply is ready at
once (L1 hits via ``cache.get_nowait``, writes that complete without suspending) is answered
at once. Only when a command really waits (L1 miss, slow tier, a write to L3) does the connection
start a task (or, for a plain SET through to L3, wait for the future that callbacks complete: no
task), pausing reads until it is done. Later commands of the same pipeline that touch one
other key each start beside it, so a pipeline of writes waits about one L3 round trip, not one per
command; any other command waits until nothing is in flight, and replies keep pipeline order
(:mod:`memories.sidecar.resp.in_flight`).

Like redis-server, the server takes turns: a connection answers at most about
``TURN_BYTES`` of requests per turn of the event loop before the other ready connections
have theirs, and the replies of a whole turn are written together at its end (one
``transport.write`` per connection; clients woken once per turn rather than once per
connection served, and, on a busy server, fewer system calls per reply).

A client that does not read its replies is held back, not buffered for: while the transport
holds more unsent replies than its high-water mark (asyncio's ``pause_writing``), the connection
reads no requests and takes no turns; a turn ends early once it has ``TURN_OUTPUT_BYTES`` of
replies; and a connection whose unsent replies still exceed ``max_output_buffer`` (one huge
reply) is closed, as redis-server's ``client-output-buffer-limit`` does.

Each batch's latency (from the read that completed its commands until their last reply is
ready to be written, including any wait on the cache) is observed once in
``statistics.batch_latency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from functools import partial
from typing import Any, cast

from memories.sidecar.resp.commands import CommandTable, RespSession, error_reply
from memories.sidecar.resp.in_flight import InFlight, WaitBudget
from memories.sidecar.resp.in_flight import Reply as InFlightReply
from memories.sidecar.resp.protocol import RespParser, RespProtocolError, encode_error

logger = logging.getLogger(__name__)

_CLOSE = object()
_MAX_CLIENTS_REPLY = b"-ERR max number of clients reached\r\n"
_READ_TIMEOUT_REPLY = b"-ERR read timeout: incomplete request\r\n"
#: The longest incomplete plain GET/SET kept for the fast path to finish on the next read (bytes);
#: longer ones go to the parser, which collects large values without copying them again per read.
_MAX_TAIL_BYTES = 64 * 1024
#: Request bytes a connection's fast path answers per turn of the event loop, as redis-server reads
#: 16 KiB per client per turn: the rest of a long pipeline waits until every other ready connection had
#: its turn, so one client's batch of large SETs does not hold back everyone else's replies.
TURN_BYTES = 16 * 1024
#: Reply bytes after which a connection's turn ends (the rest of its pipeline waits for the next turn): what
#: one turn can add to a connection's unsent output whatever the size of the values it reads.
TURN_OUTPUT_BYTES = 1024 * 1024
#: Unanswered request bytes at which a connection stops reading until its backlog is answered.
MAX_BACKLOG_BYTES = 1024 * 1024
#: Seconds between two log lines about connections closed at the output limit (the rest are counted).
OUTPUT_LIMIT_LOG_INTERVAL = 60.0
QueueItem = list[bytes] | bytes | object


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, bytes], pending: Any) -> Generator[Any, Any, bytes]:
    """Continue, inside a Task, a coroutine that was started synchronously and suspended on ``pending``."""
    try:
        yield pending
    except BaseException as error:  # deliver cancellation and errors to the coroutine itself
        try:
            pending = coroutine.throw(error)
        except StopIteration as stop:
            result: bytes = stop.value
            return result
        return (yield from _resume(coroutine, pending))
    return (yield from coroutine.__await__())


class RespConnection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: RespServer) -> None:
        self._server = server
        self._commands: CommandTable = server.commands
        self._run_fast = server.commands.run_fast
        self._max_bulk_length = server.max_bulk_length
        self._tail = b""  # the incomplete command the fast path stopped at, completed by the next read
        # Complete requests waiting for this connection's next turn: ``_backlog[_backlog_start:]``.
        self._backlog = b""
        self._backlog_start = 0
        self._backlog_paused = False  # reading paused because the backlog grew past MAX_BACKLOG_BYTES
        self._output: list[bytes] = []  # replies of this turn, written by flush()
        self._output_bytes = 0  # their size
        self._parser = RespParser(
            max_bulk_length=server.max_bulk_length,
            max_buffer_length=server.max_request_size,
        )
        self._transport: asyncio.Transport | None = None
        self._queue: deque[QueueItem] = deque()
        self._busy = False  # a command waits on the cache, or requests wait for one to finish
        self._in_flight = InFlight(server.wait_budget)
        self._closed = False
        self._reading_paused = False
        self._writing_paused = False  # the transport holds more unsent replies than its high-water mark
        self._deferred: Callable[[], None] | None = None  # work to continue once the client reads its replies
        self.session = RespSession(client_id=next(server.client_ids))
        self.last_progress = 0.0
        self._latency = server.statistics.batch_latency
        self._batch_started = 0.0

    # --- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if not self._server.admit(self):
            transport.write(_MAX_CLIENTS_REPLY)
            transport.close()
            self._closed = True
        elif self._commands.token is not None:
            self._parser.require_authentication()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.forget(self)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            asyncio.get_running_loop().call_soon(deferred)
        self._resume_reading_if_free()

    def data_received(self, data: bytes) -> None:
        if self._backlog:
            # A long pipeline is being answered turn by turn: new requests queue behind it.
            self._backlog = self._backlog[self._backlog_start :] + data
            self._backlog_start = 0
            if len(self._backlog) > MAX_BACKLOG_BYTES:
                self._backlog_paused = True
                self._pause_reading()
            return
        self._serve(data, 0)

    def _serve(self, data: bytes, start: int) -> None:
        """Answer the requests in ``data[start:]``: plain GET/SET on the fast path, the rest parsed and dispatched."""
        items: list[QueueItem]
        if self._tail:
            data = self._tail + data[start:]
            start = 0
            self._tail = b""
        if not self._busy and not self._parser.pending:
            self._batch_started = time.perf_counter()
            replies, consumed, incomplete = self._run_fast(
                data, start, TURN_BYTES, TURN_OUTPUT_BYTES, self.session, self._max_bulk_length
            )
            if consumed > start:
                self._write([replies])
                self._latency.observe(time.perf_counter() - self._batch_started)
            rest = len(data) - consumed
            if not rest:
                return
            if incomplete:
                if rest <= _MAX_TAIL_BYTES:
                    # Most likely the read ended inside a command: keep it for the next read's fast path.
                    self._tail = data[consumed:]
                    self.last_progress = time.monotonic()
                    return
            elif consumed - start >= TURN_BYTES or len(replies) >= TURN_OUTPUT_BYTES:
                # This connection had its turn: answer the rest after every other ready connection had theirs.
                self._backlog = data
                self._backlog_start = consumed
                asyncio.get_running_loop().call_soon(self._take_turn)
                return
            start = consumed
            self._batch_started = time.perf_counter()
        items = self._parse(data[start:] if start else data)
        if self._parser.pending:
            self.last_progress = time.monotonic()
        if self._busy:
            self._queue.extend(items)
        else:
            self._run(items)
            if self._parser.held_after_auth:
                self._continue_after_auth()

    def _parse(self, data: bytes) -> list[QueueItem]:
        try:
            return self._parser.feed(data)  # type: ignore[return-value]
        except RespProtocolError as error:
            return self._items_after_error(error)

    def _continue_after_auth(self) -> None:
        """Parse what was pipelined behind an AUTH or HELLO under the limits that its answer decided."""
        parser = self._parser
        while parser.held_after_auth and not (self._busy or self._closed):
            if self.session.authenticated or self._commands.token is None:
                parser.lift_authentication_limits()
            self._run(self._parse(b""))

    def _take_turn(self) -> None:
        """Continue answering the backlog of a long pipeline (called once per event loop turn)."""
        if self._closed:
            return
        if self._writing_paused:
            self._deferred = self._take_turn
            return
        data, start = self._backlog, self._backlog_start
        self._backlog = b""
        self._serve(data, start)
        if self._backlog_paused and not self._backlog:
            self._backlog_paused = False
            self._resume_reading_if_free()

    # --- command execution -------------------------------------------------------------------

    def _items_after_error(self, error: RespProtocolError) -> list[QueueItem]:
        items: list[QueueItem] = list(self._parser.take_parsed())
        while True:
            self._server.statistics.protocol_errors += 1
            items.append(encode_error(f"ERR {error}"))
            if not error.recoverable:
                items.append(_CLOSE)
                return items
            try:
                items.extend(self._parser.feed(b""))
                return items
            except RespProtocolError as next_error:
                items.extend(self._parser.take_parsed())
                error = next_error

    def _run(self, items: list[QueueItem] | deque[QueueItem]) -> None:
        output: list[bytes] = []
        output_bytes = 0
        dispatch = self._commands.dispatch
        session = self.session
        in_flight = self._in_flight
        for index, item in enumerate(items):
            if output_bytes >= TURN_OUTPUT_BYTES:
                self._write(output)
                self._defer(list(itertools.islice(items, index, None)))
                return
            if type(item) is list:
                if in_flight and not in_flight.may_start(item):
                    self._write(output)
                    self._hold(list(itertools.islice(items, index, None)))
                    return
                try:
                    reply = dispatch(item, session)
                except Exception as error:
                    reply = error_reply(error)
                if type(reply) is not bytes:
                    if isinstance(reply, asyncio.Future):
                        self._wait_for_future(reply, in_flight.start(item))
                        continue
                    coroutine = cast(Coroutine[Any, Any, bytes], reply)
                    try:
                        pending = coroutine.send(None)
                    except StopIteration as stop:
                        reply = stop.value
                    except Exception as error:
                        reply = error_reply(error)
                    else:
                        self._wait_for(coroutine, pending, in_flight.start(item))
                        continue
                if in_flight:
                    in_flight.add_ready(cast(bytes, reply))
                else:
                    output.append(cast(bytes, reply))
                output_bytes += len(cast(bytes, reply))
                if session.closing:
                    item = _CLOSE
            elif type(item) is bytes:
                if in_flight:
                    in_flight.add_ready(item)
                else:
                    output.append(item)
                output_bytes += len(item)
            if item is _CLOSE:
                self._write(output)
                if in_flight:
                    self._hold(list(itertools.islice(items, index, None)))
                    return
                self.close()
                return
        self._write(output)
        if output and not in_flight:
            self._latency.observe(time.perf_counter() - self._batch_started)

    def _wait_for(self, coroutine: Coroutine[Any, Any, bytes], pending: Any, reply: InFlightReply) -> None:
        """Finish ``coroutine`` in a task (its reply goes to ``reply``'s place), reading nothing meanwhile."""
        self._busy = True
        self._pause_reading()
        task = asyncio.get_running_loop().create_task(self._finish(coroutine, pending, reply))
        self._server.track(task)

    def _wait_for_future(self, future: asyncio.Future[bytes], reply: InFlightReply) -> None:
        """Like :meth:`_wait_for` for a reply that callbacks complete: no task."""
        self._busy = True
        self._pause_reading()
        future.add_done_callback(partial(self._future_done, reply))
        self._server.track(future)

    def _future_done(self, reply: InFlightReply, future: asyncio.Future[bytes]) -> None:
        if future.cancelled():  # the server is closing
            return
        try:
            value = future.result()
        except Exception as error:
            value = error_reply(error)
        self._finished(reply, value)

    def _hold(self, rest: list[QueueItem]) -> None:
        """Keep ``rest`` (and anything read later) queued, reading nothing, until the connection is free again."""
        self._busy = True
        self._queue.extendleft(reversed(rest))
        self._pause_reading()

    def _defer(self, rest: list[QueueItem]) -> None:
        """End this turn: answer ``rest`` on the next one (or once the client has read its replies)."""
        self._hold(rest)
        asyncio.get_running_loop().call_soon(self._continue)

    def _continue(self) -> None:
        if self._closed:
            return
        if self._writing_paused:
            self._deferred = self._continue
            return
        self._busy = bool(self._in_flight)
        self._run_queued()

    async def _finish(self, coroutine: Coroutine[Any, Any, bytes], pending: Any, reply: InFlightReply) -> None:
        try:
            value = await _resume(coroutine, pending)
        except Exception as error:
            value = error_reply(error)
        self._finished(reply, value)

    def _finished(self, reply: InFlightReply, value: bytes) -> None:
        """A waiting command answered ``value``: write what is now in order, go on with the queued requests."""
        self._write(self._in_flight.finish(reply, value))
        if self.session.closing:
            self.close()
            return
        self._run_queued()

    def _run_queued(self) -> None:
        """Go on with the queued requests, if any; resume reading once nothing waits."""
        queued = self._queue
        if queued:
            self._queue = deque()
            self._busy = bool(self._in_flight)
            self._run(queued)
        elif not self._in_flight:
            self._busy = False
            self._latency.observe(time.perf_counter() - self._batch_started)
        if not self._busy:
            if self._parser.held_after_auth:
                self._continue_after_auth()
            self._resume_reading_if_free()

    def _write(self, output: list[bytes]) -> None:
        """Queue ``output`` (replies, in order) for the write at the end of this event loop turn."""
        if output and not self._closed:
            if not self._output:
                self._server.flush_soon(self)
            self._output += output
            self._output_bytes += len(output[0]) if len(output) == 1 else sum(map(len, output))
            if self._output_bytes > self._server.max_output_buffer:
                self._overflow(self._output_bytes)

    def flush(self) -> None:
        """Write the replies queued since the last flush (called by the server at the end of a turn)."""
        output = self._output
        if output:
            self._output = []
            self._output_bytes = 0
            transport = self._transport
            if not self._closed and transport is not None:
                transport.write(output[0] if len(output) == 1 else b"".join(output))
                if self._writing_paused and (unsent := transport.get_write_buffer_size()) > (
                    self._server.max_output_buffer
                ):
                    self._overflow(unsent)

    def _overflow(self, unsent: int) -> None:
        """Close at once, dropping the unsent replies: the client let more than the output limit pile up."""
        self._output = []
        self._output_bytes = 0
        self._server.output_limit_reached(self, unsent)
        if not self._closed and self._transport is not None:
            self._closed = True
            self._transport.abort()

    def _pause_reading(self) -> None:
        if not self._reading_paused and not self._closed and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading_if_free(self) -> None:
        """Resume reading unless a command waits, the backlog is over its bound, the client is not reading its
        replies or the server is stopping."""
        if not (self._busy or self._backlog_paused or self._writing_paused or self._server.stopping):
            self._resume_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and not self._closed and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    # --- used by the server ----------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True when no command waits on the cache, no request waits for a turn and no reply waits to be written."""
        return not (self._busy or self._backlog or self._output)

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete request."""
        return self._parser.pending + len(self._tail)

    def stop_reading(self) -> None:
        """Read no further requests (shutdown)."""
        self._pause_reading()

    def time_out(self) -> None:
        """Reply with a read-timeout error and close."""
        self._write([_READ_TIMEOUT_REPLY])
        self.close()

    def close(self) -> None:
        """Close after writing the replies queued so far."""
        if not self._closed and self._transport is not None:
            self.flush()
            self._closed = True
            self._transport.close()


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
        #: Commands waiting on the cache, all connections together (see in_flight.py).
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
            asyncio.get_running_loop().call_soon(self._flush)
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
        """Wait up to ``wait_seconds`` for in-flight commands, then close every connection."""
        self.stop_accepting()
        deadline = time.monotonic() + wait_seconds
        # A finished command may start the next queued one, so wait until no task is left.
        while self._tasks and (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        for connection in list(self._connections):
            connection.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=0.5)
        if self.unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_socket)
