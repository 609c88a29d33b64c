"""One RESP client connection (an asyncio Protocol): it reads requests, answers them in order and writes the replies.

Serving a read: the compiled fast path (:mod:`memories.sidecar.resp.fast_path`) answers the leading plain GET and
SET commands straight from the bytes; at the first other command (or an L1 miss that must look further, a write
that must reach L2/L3, a limit, a malformed frame) the parser (:mod:`memories.sidecar.resp.protocol`) and the
command table (:mod:`memories.sidecar.resp.commands`) take over. A command cut by the end of a read (at most
``_MAX_TAIL_BYTES`` of it) is kept for the fast path to finish on the next read; a longer one goes to the parser.
A handler answers at once (``bytes``), returns a future of its reply that callbacks complete (a plain SET that
waits for L3), or returns a coroutine, which the connection steps once: only when it really waits on the cache is
it finished in a task. Later commands of the same pipeline that touch one other key each
start beside it, so a pipeline of writes waits about one L3 round trip, not one per command; any other command
waits until nothing is in flight, and replies keep pipeline order (:mod:`memories.sidecar.resp.in_flight`). Where
the fast path stops at plain SETs that must wait for L3 (with L3, a read that begins with a plain SET goes there
at once: the fast path would stop at it), they start together as one run of the batch that gathers the SETs of
every connection in this turn of the event loop (:mod:`memories.sidecar.resp.set_batch`: no Python parse, one
callback for the batch); the rest of the read waits
unparsed in the backlog, and further turns may start the SETs at its front as more batches (up to
``MAX_BATCHES``), anything else waits until every batch is answered.

Like redis-server, connections take turns: per turn of the event loop a connection's fast path answers about
``TURN_BYTES`` of requests (no command starts past it), and on either path a turn ends once it has
``TURN_OUTPUT_BYTES`` of replies; the rest of the pipeline waits until every other ready connection had its turn.
The replies of a turn are written together at its end (one ``transport.write`` per connection, through
``RespServer.flush_soon``): clients are woken once per turn rather than once per connection served.

Whether the connection reads is decided in one place, :meth:`RespConnection._settle`, from its
:class:`~memories.sidecar.resp.reading.ReadingState`: no requests are read once a read arrived while commands wait
(on the cache, or behind commands in flight, or for their turn) until they are answered, while more than
``MAX_BACKLOG_BYTES`` of requests wait for later turns (until all of them are answered), while the transport holds
more unsent replies than its high-water mark (asyncio's ``pause_writing``; no turns are taken either) and once
the server stops. A connection is aborted when
the replies queued in one turn, or its unsent replies while the client does not read, exceed
``max_output_buffer``. With a password set, the parser applies its pre-authentication limits, and what was
pipelined behind AUTH or HELLO is parsed under the limits its answer decided.

``statistics.batch_latency`` observes each batch of commands answered together (the fast path's share of a read
or turn, the parsed commands of a read) from the start of serving it until its last reply is ready to be written,
including any wait on the cache.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from memories.sidecar.resp.commands import CommandTable, RespSession, error_reply
from memories.sidecar.resp.in_flight import InFlight
from memories.sidecar.resp.in_flight import Reply as InFlightReply
from memories.sidecar.resp.protocol import RespParser, RespProtocolError, encode_error
from memories.sidecar.resp.reading import Action, ReadingState, decide

if TYPE_CHECKING:
    from memories.sidecar.resp.server import RespServer

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
#: Batches of plain SETs one connection may have waiting on L3 at once: a pipeline of large values needs several
#: turns (``TURN_BYTES`` each), which need not wait for each other's round trip.
MAX_BATCHES = 8
QueueItem = list[bytes] | bytes | object
#: How a plain SET from redis-benchmark, redis-cli or redis-py begins (other spellings take the usual way).
_SET_HEADER = b"*3\r\n$3\r\nSET\r\n"


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
        self._sets_first = server.commands.sets_wait_for_l3
        self._max_bulk_length = server.max_bulk_length
        self._tail = b""  # the incomplete command the fast path stopped at, completed by the next read
        # Complete requests waiting for this connection's next turn: ``_backlog[_backlog_start:]``.
        self._backlog = b""
        self._backlog_start = 0
        self._output: list[bytes] = []  # replies of this turn, written by flush()
        self._output_bytes = 0  # their size
        self._parser = RespParser(
            max_bulk_length=server.max_bulk_length,
            max_buffer_length=server.max_request_size,
        )
        self._transport: asyncio.Transport | None = None
        #: The event loop serving this connection (it is created inside it). Kept because
        #: ``asyncio.get_running_loop()`` makes a ``getpid()`` system call each time, paid per command.
        self.loop = asyncio.get_running_loop()
        self._queue: deque[QueueItem] = deque()  # parsed requests waiting behind commands in flight or for a turn
        self._in_flight = InFlight(server.wait_budget)
        self._batches = 0  # batches of SETs waiting on L3 (memories.sidecar.resp.set_batch)
        self._batch_keys: set[str] = set()  # their keys
        self._state = ReadingState()
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
            self._state.closed = True
        elif self._commands.token is not None:
            self._parser.require_authentication()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.closed = True
        self._server.forget(self)

    def pause_writing(self) -> None:
        self._state.writing_paused = True
        self._settle()

    def resume_writing(self) -> None:
        self._state.writing_paused = False
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            self.loop.call_soon(deferred)
        self._settle()

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state.commands_waiting and not state.read_while_waiting:
            state.read_while_waiting = True  # read nothing more until the waiting commands are answered
            self._settle()
        if self._backlog:
            # A long pipeline is being answered turn by turn: new requests queue behind it.
            self._backlog = self._backlog[self._backlog_start :] + data
            self._backlog_start = 0
            if len(self._backlog) > MAX_BACKLOG_BYTES:
                self._state.backlog_full = True
                self._settle()
            return
        self._serve(data, 0)

    def _serve(self, data: bytes, start: int) -> None:
        """Answer the requests in ``data[start:]``: plain GET/SET on the fast path, the rest parsed and dispatched."""
        items: list[QueueItem]
        if self._tail:
            data = self._tail + data[start:]
            start = 0
            self._tail = b""
        if not self._state.commands_waiting and not self._parser.pending:
            self._batch_started = time.perf_counter()
            # With L3 the compiled fast path would stop at once at a plain SET, which waits for L3: start it first.
            sets_tried = self._sets_first and data.startswith(_SET_HEADER, start)
            if sets_tried and self._start_sets(data, start, TURN_BYTES):
                return
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
                self.loop.call_soon(self._take_turn)
                return
            elif not (sets_tried and consumed == start) and self._start_sets(
                data, consumed, TURN_BYTES - (consumed - start)
            ):
                return  # (a batch that could not start at ``start`` is not tried there twice)
            start = consumed
            self._batch_started = time.perf_counter()
        items = self._parse(data[start:] if start else data)
        if self._parser.pending:
            self.last_progress = time.monotonic()
        if self._state.commands_waiting:
            self._queue.extend(items)
        else:
            self._run(items)
            if self._parser.held_after_auth:
                self._continue_after_auth()

    def _start_sets(self, data: bytes, start: int, budget: int) -> bool:
        """Start the plain SETs at ``data[start:]`` as one run of the batch of SETs that wait for L3, if they are such SETs
        (:mod:`memories.sidecar.resp.set_batch`); the rest of ``data`` waits, unparsed, in the backlog: the next turn
        may start the SETs at its front as a further batch (:meth:`_next_batch`), anything else waits until every
        batch is answered. Returns whether a batch started."""
        place: list[InFlightReply] = []  # the batch's place among the replies, reserved once it started
        consumed = self._commands.start_sets(
            data, start, budget, self.session, self._max_bulk_length, self._batch_keys, partial(self._answered, place)
        )
        if consumed is None:
            return False
        place.append(self._in_flight.start_barrier())
        self._batches += 1
        self._server.batches_waiting += 1
        self._state.commands_waiting = True  # reading goes on until a read arrives meanwhile (data_received)
        if consumed < len(data):
            self._backlog = data
            self._backlog_start = consumed
            if self._batches < MAX_BATCHES:
                self.loop.call_soon(self._next_batch)
        return True

    def _answered(self, place: list[InFlightReply], replies: bytes) -> None:
        """Redis answered a batch of SETs (always in a later callback than the one that started it): its
        ``replies`` take their place at once when no parsed command waits behind them (they are written at the end
        of this turn of the loop), else on the next turn, so that those commands do not run inside L3's callback."""
        self._batches -= 1
        self._server.batches_waiting -= 1
        if self._queue or self._parser.held_after_auth:
            self.loop.call_soon(self._finished, place[0], replies)
        else:
            self._finished(place[0], replies)

    def _next_batch(self) -> None:
        """A turn beside the batches in flight: start the plain SETs at the front of the backlog as another batch.
        Anything else (or a client that does not read its replies) waits until every batch is answered, when
        :meth:`_run_queued` hands the backlog to :meth:`_take_turn`."""
        state = self._state
        if state.closed or state.writing_paused or not self._backlog or not self._batches:
            return
        if len(self._in_flight) != self._batches:
            return  # something other than a batch waits (never so far: nothing else starts beside a batch)
        data, start = self._backlog, self._backlog_start
        self._backlog = b""
        if not self._start_sets(data, start, TURN_BYTES):
            self._backlog, self._backlog_start = data, start

    def _parse(self, data: bytes) -> list[QueueItem]:
        try:
            return self._parser.feed(data)  # type: ignore[return-value]
        except RespProtocolError as error:
            return self._items_after_error(error)

    def _continue_after_auth(self) -> None:
        """Parse what was pipelined behind an AUTH or HELLO under the limits that its answer decided."""
        parser = self._parser
        state = self._state
        while parser.held_after_auth and not (state.commands_waiting or state.closed):
            if self.session.authenticated or self._commands.token is None:
                parser.lift_authentication_limits()
            self._run(self._parse(b""))

    def _take_turn(self) -> None:
        """Continue answering the backlog of a long pipeline (called once per event loop turn, and once a batch of
        SETs that left the rest of its read in the backlog is answered)."""
        if self._state.commands_waiting or not self._backlog or not self._turn_may_start(self._take_turn):
            return
        state = self._state
        data, start = self._backlog, self._backlog_start
        self._backlog = b""
        self._serve(data, start)
        if state.backlog_full and not self._backlog:
            state.backlog_full = False
            self._settle()

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
        self._state.commands_waiting = True
        self._settle()
        task = self.loop.create_task(self._finish(coroutine, pending, reply))
        self._server.track(task)

    def _wait_for_future(self, future: asyncio.Future[bytes], reply: InFlightReply) -> None:
        """Like :meth:`_wait_for` for a reply that callbacks complete: no task."""
        self._state.commands_waiting = True
        self._settle()
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
        self._state.commands_waiting = True
        self._queue.extendleft(reversed(rest))
        self._settle()

    def _defer(self, rest: list[QueueItem]) -> None:
        """End this turn: answer ``rest`` on the next one (or once the client has read its replies)."""
        self._hold(rest)
        self.loop.call_soon(self._continue)

    def _continue(self) -> None:
        if self._turn_may_start(self._continue):
            self._state.commands_waiting = bool(self._in_flight)
            self._run_queued()

    def _turn_may_start(self, turn: Callable[[], None]) -> bool:
        """Whether a turn due now may run: not on a closed connection, and while the client does not read its
        replies, ``turn`` runs once it does (``resume_writing``)."""
        if self._state.closed:
            return False
        if self._state.writing_paused:
            self._deferred = turn
            return False
        return True

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
        queued, state = self._queue, self._state
        if queued:
            self._queue = deque()
            state.commands_waiting = bool(self._in_flight)
            self._run(queued)
        elif not self._in_flight:
            state.commands_waiting = False
            self._latency.observe(time.perf_counter() - self._batch_started)
        if not state.commands_waiting:
            if self._backlog:
                self.loop.call_soon(self._take_turn)  # what followed a batch of SETs
            if self._parser.held_after_auth:
                self._continue_after_auth()
            self._settle()

    def _write(self, output: list[bytes]) -> None:
        """Queue ``output`` (replies, in order) for the write at the end of this event loop turn."""
        if output and not self._state.closed:
            if not self._output:
                self._server.flush_soon(self)
            self._output += output
            self._output_bytes += len(output[0]) if len(output) == 1 else sum(map(len, output))
            if self._output_bytes > self._server.max_output_buffer:
                self._state.unsent_over_limit = self._output_bytes
                self._settle()

    def flush(self) -> None:
        """Write the replies queued since the last flush (called by the server at the end of a turn)."""
        output = self._output
        if output:
            self._output = []
            self._output_bytes = 0
            transport = self._transport
            state = self._state
            if not state.closed and transport is not None:
                transport.write(output[0] if len(output) == 1 else b"".join(output))
                if state.writing_paused and (unsent := transport.get_write_buffer_size()) > (
                    self._server.max_output_buffer
                ):
                    state.unsent_over_limit = unsent
                    self._settle()

    def _settle(self) -> None:
        """Bring the transport in line with the state (:func:`~memories.sidecar.resp.reading.decide`): the one
        place where reading is paused or resumed, or the connection aborted at the output limit."""
        state, transport = self._state, self._transport
        if transport is None:
            return
        if not state.commands_waiting:
            state.read_while_waiting = False
        action = decide(state)
        if action is Action.PAUSE:
            state.reading = False
            transport.pause_reading()
        elif action is Action.RESUME:
            state.reading = True
            transport.resume_reading()
        elif action is Action.ABORT:
            # The client let more than the output limit pile up: close at once, dropping the unsent replies.
            self._output = []
            self._output_bytes = 0
            self._server.output_limit_reached(self, state.unsent_over_limit)
            state.closed = True
            transport.abort()

    # --- used by the server ----------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True when no command waits on the cache, no request waits for a turn and no reply waits to be written."""
        return not (self._state.commands_waiting or self._backlog or self._output)

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete request."""
        return self._parser.pending + len(self._tail)

    def stop_reading(self) -> None:
        """Read no further requests (shutdown)."""
        self._state.stopping = True
        self._settle()

    def time_out(self) -> None:
        """Reply with a read-timeout error and close."""
        self._write([_READ_TIMEOUT_REPLY])
        self.close()

    def close(self) -> None:
        """Close after writing the replies queued so far."""
        if not self._state.closed and self._transport is not None:
            self.flush()
            self._state.closed = True
            self._transport.close()
