"""One RESP3 connection to one Redis node, carrying every command this agent sends to that node.

Commands are written in the order they are issued (those issued in one turn of the event loop leave in one
``write``: automatic pipelining) and replies are matched to them in that order. A reply completes a future
(:meth:`NodeConnection.send`) or is handed to a callback right where it is parsed (:meth:`NodeConnection.send_then`:
no future, no task and no extra turn of the event loop per command, for the write-through path); the replies of a
batch of commands (:meth:`NodeConnection.send_many_then`, a pipeline's SETs) are collected into one list for one
callback, one entry of the queue of commands waiting for a reply. With ``tracking`` the connection
also registers ``CLIENT TRACKING ON BCAST PREFIX <prefix> NOLOOP``, so Redis pushes an invalidation on this same
connection for every key under the prefix that any *other* client changes. On one connection the order is exact:
a push that arrives after a reply is for a write Redis executed after that command, and an agent's own writes
(NOLOOP) never invalidate its own copies.

:attr:`NodeConnection.confirmed_at` is the liveness proof the coherence bound rests on: the send time of the newest
command whose reply has arrived. Every invalidation for a write Redis executed before that command has arrived
before the reply. An idle connection sends a PING every ``heartbeat_seconds`` to keep it fresh; the connection is
dead when commands wait and the node has sent nothing for ``settings.timeout_seconds`` (replies arriving, even
late because this agent's event loop is busy, show the node is working through them in order).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

from memories.errors import ConfigError, MemoriesError, TierUnavailable
from memories.optimization.cache.remote.protocol import (
    INCOMPLETE,
    ProtocolViolation,
    Push,
    Reply,
    ReplyError,
    ReplyParser,
    encode_command,
)
from memories.optimization.cache.remote.settings import NodeAddress, RemoteSettings

logger = logging.getLogger(__name__)

CLIENT_NAME = "memories-agent"
_PING = encode_command("PING")

#: Receives a command's reply, or the TierUnavailable that ended its connection first (called once, never raises).
ReplyCallback = Callable[[Reply | TierUnavailable], None]
#: Receives the replies of a batch of commands in their order, once the last arrived; when the connection ended
#: first, the TierUnavailable that ended it stands for each reply that did not arrive (called once, never raises).
BatchReplyCallback = Callable[[list[Reply | TierUnavailable]], None]
#: A command (or batch) waiting for its reply: the callback, the send time (monotonic seconds) and how many replies
#: it waits for (0: one, the callback a ReplyCallback; n: a batch of n, the callback a BatchReplyCallback, given
#: them as a list). The callback is typed loosely so that the reply loop calls it without a ``cast`` per reply.
_Waiting = tuple[Callable[[Any], None] | None, float, int]


class NodeConnection(asyncio.Protocol):
    """See the module docstring. Create with :meth:`open`; ``on_push`` gets every push message, ``on_lost`` is
    called once when the connection ends (closed by either side, timed out or fed malformed bytes)."""

    def __init__(
        self,
        address: NodeAddress,
        settings: RemoteSettings,
        *,
        tracking: bool,
        heartbeat_seconds: float,
        on_push: Callable[[NodeConnection, Push], None],
        on_lost: Callable[[NodeConnection, BaseException], None],
    ) -> None:
        self.address = address
        self.tracking = tracking
        self.client_id: int | None = None
        self.confirmed_at = 0.0
        self.closed = False
        self._settings = settings
        self._heartbeat_seconds = heartbeat_seconds
        self._on_push = on_push
        self._on_lost = on_lost
        self._parser = ReplyParser()
        self._pending: collections.deque[_Waiting] = collections.deque()
        self._collected: list[Reply | TierUnavailable] = []  # the replies of the batch at the head of _pending
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._last_sent_at = 0.0
        self._last_received_at = 0.0  # when the node last sent anything (monotonic seconds)
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        address: NodeAddress,
        settings: RemoteSettings,
        *,
        tracking: bool,
        heartbeat_seconds: float,
        on_push: Callable[[NodeConnection, Push], None],
        on_lost: Callable[[NodeConnection, BaseException], None],
        select_database: bool = True,
    ) -> NodeConnection:
        """Connect, log in (HELLO 3 with AUTH), register tracking and select the database.

        Raises TierUnavailable when the node cannot be reached in time, ConfigError when it refuses the
        credentials, the tracking registration or RESP3 (Redis < 6).
        """
        loop = asyncio.get_running_loop()
        connection = cls(
            address, settings, tracking=tracking, heartbeat_seconds=heartbeat_seconds, on_push=on_push, on_lost=on_lost
        )
        tls = settings.tls
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: connection,
                    address.host,
                    address.port,
                    ssl=_tls_context(settings) if tls is not None else None,
                    server_hostname=(tls.server_name or address.host) if tls is not None else None,
                ),
                settings.timeout_seconds,
            )
        except (OSError, TimeoutError, ssl.SSLError) as error:
            raise TierUnavailable(f"l3: cannot connect to {address}: {error or type(error).__name__}") from error
        try:
            await asyncio.wait_for(connection._handshake(select_database), settings.timeout_seconds)
        except BaseException as error:
            connection.close(error if isinstance(error, Exception) else None)
            if isinstance(error, TimeoutError):
                raise TierUnavailable(f"l3: {address} did not answer the handshake in time") from error
            raise
        return connection

    async def _handshake(self, select_database: bool) -> None:
        settings = self._settings
        hello: list[bytes | str] = ["HELLO", "3"]
        if settings.password is not None:
            hello += ["AUTH", settings.username or "default", settings.password]
        hello += ["SETNAME", CLIENT_NAME]
        commands = [encode_command(*hello)]
        if self.tracking:
            commands.append(encode_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", settings.prefix, "NOLOOP"))
        if select_database and settings.database:
            commands.append(encode_command("SELECT", settings.database))
        replies = await asyncio.gather(*(self.send(command) for command in commands))
        for command, reply in zip(("HELLO", "CLIENT TRACKING", "SELECT"), replies, strict=False):
            if isinstance(reply, ReplyError):
                raise _handshake_error(self.address, command, reply)
        server = cast(dict[object, object], replies[0])
        client_id = server.get(b"id")
        self.client_id = client_id if isinstance(client_id, int) else None

    # --- sending ------------------------------------------------------------------------------

    def send(self, command: bytes) -> asyncio.Future[Reply]:
        """Queue an encoded command (see :func:`encode_command`) and return the future of its reply.

        Raises TierUnavailable when the connection is already closed.
        """
        if self.closed:
            raise TierUnavailable(f"l3: connection to {self.address} is closed")
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._queue(partial(_resolve, future), 0).append(command)
        return future

    def send_then(self, command: bytes, callback: ReplyCallback) -> None:
        """Queue an encoded command; ``callback`` gets its reply as soon as it is parsed (or the TierUnavailable
        that closed the connection first). The caller checked that the connection is open."""
        self._queue(callback, 0).append(command)

    def send_many_then(self, commands: list[bytes], callback: BatchReplyCallback) -> None:
        """Queue encoded commands back to back (at least one); ``callback`` gets their replies, in order, in one
        list once the last is parsed (see :data:`BatchReplyCallback`). The caller checked that the connection is
        open."""
        self._queue(callback, len(commands)).extend(commands)

    def send_joined_then(self, count: int, commands: bytes, callback: BatchReplyCallback) -> None:
        """:meth:`send_many_then` of ``count`` (at least one) encoded commands joined back to back in one bytes
        object."""
        self._queue(callback, count).append(commands)

    def write_now(self) -> None:
        """Write what this turn queued now rather than at the end of the turn (for a caller at that end already:
        waiting for the next turn would add one to the latency of every command queued)."""
        self._flush()

    def _queue(self, callback: ReplyCallback | BatchReplyCallback | None, replies: int) -> list[bytes]:
        """Wait for ``replies`` replies (0: one, see :data:`_Waiting`); return the list the commands go in."""
        now = time.monotonic()
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._pending.append((callback, now, replies))
        self._last_sent_at = now
        return self._outgoing

    def _flush(self) -> None:
        if self._outgoing and self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing = []

    # --- asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._timer = self._loop.call_later(self._tick_seconds, self._tick)

    def data_received(self, data: bytes) -> None:
        self._last_received_at = time.monotonic()
        parser = self._parser
        parser.feed(data)
        try:
            while (reply := parser.next()) is not INCOMPLETE:
                if type(reply) is Push:
                    self._on_push(self, reply)
                    continue
                pending = self._pending
                if not pending:
                    raise ProtocolViolation(f"unexpected reply {reply!r:.80}")
                callback, sent_at, batch = pending[0]
                self.confirmed_at = sent_at
                if batch:
                    collected = self._collected
                    collected.append(reply)
                    if reply == b"OK" and len(collected) < batch:  # the rest of a batch of SETs, in one step
                        collected += parser.take_ok(batch - len(collected))
                    if len(collected) < batch:
                        continue
                    self._collected = []
                    pending.popleft()
                    assert callback is not None  # a batch always has one
                    _call(callback, collected)
                    continue
                pending.popleft()
                if callback is not None:
                    _call(callback, reply)
        except ProtocolViolation as error:
            logger.error("l3: %s sent a malformed reply: %s", self.address, error)
            self.close(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc or TierUnavailable(f"l3: connection to {self.address} was closed"))

    # --- liveness -----------------------------------------------------------------------------

    @property
    def _tick_seconds(self) -> float:
        return max(0.005, min(self._heartbeat_seconds, self._settings.timeout_seconds) / 4)

    def _tick(self) -> None:
        if self.closed:
            return
        now = time.monotonic()
        timeout = self._settings.timeout_seconds
        if self._pending and now - max(self._pending[0][1], self._last_received_at) > timeout:
            self.close(TierUnavailable(f"l3: {self.address} sent nothing for {timeout}s while commands waited"))
            return
        if not self._pending and now - self._last_sent_at >= self._heartbeat_seconds:
            self._queue(None, 0).append(_PING)
        self._timer = self._loop.call_later(self._tick_seconds, self._tick)

    def close(self, reason: BaseException | None = None) -> None:
        """Close the connection; pending commands fail with TierUnavailable."""
        if self._transport is not None and not self.closed:
            self._transport.abort()
        self._end(reason or TierUnavailable(f"l3: connection to {self.address} closed by this agent"))

    def _end(self, reason: BaseException) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        error = reason if isinstance(reason, TierUnavailable) else TierUnavailable(f"l3: {self.address}: {reason}")
        while self._pending:
            callback, _sent_at, batch = self._pending.popleft()
            if batch:
                collected, self._collected = self._collected, []  # only the head can have replies already
                collected += [error] * (batch - len(collected))
                assert callback is not None  # a batch always has one
                _call(callback, collected)
            elif callback is not None:
                _call(callback, error)
        self._on_lost(self, error)


_Outcome = TypeVar("_Outcome")


def _resolve(future: asyncio.Future[Reply], outcome: Reply | TierUnavailable) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if isinstance(outcome, TierUnavailable):
        future.set_exception(outcome)
        future.exception()  # a caller that was cancelled meanwhile must not leave it unretrieved
    else:
        future.set_result(outcome)


def _call(callback: Callable[[_Outcome], None], outcome: _Outcome) -> None:
    """Hand a reply (or a batch's) on; a failing callback is a bug of its own and must not stop the replies after
    it."""
    try:
        callback(outcome)
    except Exception:
        logger.exception("l3: a reply callback failed")


def _tls_context(settings: RemoteSettings) -> ssl.SSLContext:
    tls = settings.tls
    assert tls is not None
    try:
        context = ssl.create_default_context(cafile=tls.ca_file, cadata=tls.ca_pem)
        if tls.cert_file is not None:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"l3.tls: cannot load the CA bundle or client certificate: {error}") from error
    return context


def _handshake_error(address: NodeAddress, command: str, reply: ReplyError) -> MemoriesError:
    if reply.code in ("WRONGPASS", "NOAUTH", "NOPERM") and command == "HELLO":
        return ConfigError(f"l3: {address} refused the credentials: {reply.message}")
    if reply.code == "NOPERM":
        return ConfigError(f"l3: the Redis user may not run {command} on {address}: {reply.message}")
    if command == "HELLO" and "unknown command" in reply.message.lower():
        return ConfigError(f"l3: {address} does not speak RESP3 (HELLO 3); Redis 6 or later is required")
    return TierUnavailable(f"l3: {address} refused {command}: {reply.message}")
