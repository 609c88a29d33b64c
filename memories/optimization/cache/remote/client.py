"""The agent's client of the shared Redis: one connection per node, redirections, failover, and the coherence lease.

Every command for a key goes to the node that owns it, on that node's single connection
(:mod:`memories.optimization.cache.remote.connection`), so commands for one key reach Redis in the order they were
issued. ``-MOVED`` / ``-ASK`` (cluster resharding), ``-TRYAGAIN`` / ``-CLUSTERDOWN`` / ``-LOADING`` and ``-READONLY``
(a Sentinel failover left us on a replica) are answers Redis gives *without* executing the command, so the command
is sent again where it belongs. A command whose connection fails after it was sent is never repeated: its outcome
is unknown and the caller gets :class:`memories.errors.TierUnavailable`.

Coherence (with ``tracking``): local copies may be kept and served only while :meth:`RemoteClient.trusted` — every
node connection is open, registered for invalidations and has confirmed (see ``NodeConnection.confirmed_at``)
within :data:`TRUST_FRACTION` of ``max_staleness_seconds``. :attr:`RemoteClient.trusted_until` is the monotonic
time until which that holds for the confirmations seen so far; readers compare the clock with it (one call), so
even an event loop that stalled cannot serve a copy past the bound before it notices. Losing a connection, or a
confirmation overdue, calls ``on_coherence_lost`` at once: the cache drops every local copy. When every node
answers again on fresh registrations, copies are kept again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from memories.errors import ConfigError, TierUnavailable
from memories.optimization.cache.remote.connection import NodeConnection, ReplyCallback
from memories.optimization.cache.remote.protocol import Push, Reply, ReplyError, encode_command
from memories.optimization.cache.remote.routing import ClusterRouter, SentinelRouter, create_router
from memories.optimization.cache.remote.settings import Coherence, NodeAddress, RedisMode, RemoteSettings

logger = logging.getLogger(__name__)

#: Receives the replies of some of the commands of an :meth:`RemoteClient.execute_many_then`: their indexes and
#: their replies (or the TierUnavailable that ended the connection first), in the same order.
ManyReplyCallback = Callable[[Sequence[int], list[Reply | TierUnavailable]], None]

#: A node connection whose last confirmation is older than this fraction of max_staleness costs the coherence:
#: the rest of the bound covers the watchdog's period and the time to drop the copies.
TRUST_FRACTION = 0.8
#: Redirections (MOVED, ASK) and retries (TRYAGAIN, LOADING, ...) one command may take.
MAX_ATTEMPTS = 8
_ASKING = encode_command("ASKING")
_RETRY_LATER = ("TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY")


@dataclass
class RemoteCounters:
    """What the client saw: push messages, keys they invalidated, flushes of every local copy, redirections,
    connections opened and lost."""

    invalidation_messages: int = 0
    invalidated_keys: int = 0
    flushes: int = 0
    redirections: int = 0
    connections_opened: int = 0
    connections_lost: int = 0


class RemoteClient:
    """See the module docstring. ``on_invalidate`` receives the invalidated Redis key names, or None for "every
    key" (FLUSHALL, or a registration lost); ``on_coherence_lost`` receives the reason local copies must go."""

    def __init__(
        self,
        settings: RemoteSettings,
        *,
        on_invalidate: Callable[[list[bytes] | None], None],
        on_coherence_lost: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.router = create_router(settings)
        self.counters = RemoteCounters()
        self.tracking = settings.coherence is Coherence.TRACKING
        #: Whether one node serves every key (standalone, Sentinel), or each key its cluster node's.
        self.one_node = not isinstance(self.router, ClusterRouter)
        #: Whether local copies may be installed and served (always True without tracking); see trusted().
        self.coherent = not self.tracking
        #: time.monotonic() until which local copies stay trusted on what was confirmed so far (inf: no tracking).
        self.trusted_until = -math.inf if self.tracking else math.inf
        self.last_error: str | None = None
        self._on_invalidate = on_invalidate
        self._on_coherence_lost = on_coherence_lost
        self._connections: dict[NodeAddress, NodeConnection] = {}
        self._opening: dict[NodeAddress, asyncio.Task[NodeConnection]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._background_retries: set[asyncio.Task[list[Reply]]] = set()  # redirected execute_then commands
        self._refreshing: asyncio.Task[None] | None = None
        self._closed = False
        staleness = settings.max_staleness_seconds
        self._heartbeat_seconds = staleness / 5
        self._watch_seconds = max(0.002, staleness / 10)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> bool:
        """Learn the topology and connect to every node; returns whether Redis answered (failures are logged and
        retried in the background, and commands fail with TierUnavailable meanwhile)."""
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(self._watch()))
        if isinstance(self.router, SentinelRouter):
            self._background.append(loop.create_task(self.router.watch_failovers(self._switched_master)))
        try:
            await self._refresh()
            await asyncio.gather(*(self._connection(address) for address in self.router.masters()))
        except TierUnavailable as error:
            self._note_error(str(error))
            return False
        self.reconsider()
        return True

    def write_now(self) -> None:
        """Write the commands queued in this turn of the event loop now, on every connection (see
        :meth:`NodeConnection.write_now`)."""
        for connection in self._connections.values():
            connection.write_now()

    async def close(self) -> None:
        """Close every connection and stop the background tasks."""
        self._closed = True
        for task in [*self._background, *self._opening.values(), *self._background_retries]:
            task.cancel()
        if self._refreshing is not None:
            self._refreshing.cancel()
        for connection in list(self._connections.values()):
            connection.close()
        self._connections.clear()

    # --- commands ----------------------------------------------------------------------------

    async def execute(self, key: bytes, command: bytes) -> Reply:
        """Send ``command`` (encoded, for ``key``) to the node owning ``key``; return its reply (error replies
        included, e.g. WRONGTYPE, as :class:`ReplyError`). Raises TierUnavailable when Redis cannot be reached or
        the connection failed after sending (outcome unknown)."""
        return (await self.execute_many(key, [command]))[-1]

    async def execute_many(self, key: bytes, commands: list[bytes]) -> list[Reply]:
        """Send several commands for one key back to back on one connection (no other command of this agent in
        between); return their replies. Redirected or refused-for-now batches are sent again as a whole."""
        return await self._attempts(key, commands)

    def execute_then(self, key: bytes, command: bytes, callback: ReplyCallback) -> bool:
        """Like :meth:`execute`, without suspending: send ``command`` at once when the node owning ``key`` is known
        and connected, and return True; ``callback`` then gets the reply (or the TierUnavailable), once. Returns
        False, sending nothing, otherwise (the caller uses :meth:`execute`)."""
        connection = self._connected_now(key)
        if connection is None:
            return False
        connection.send_then(command, partial(self._replied, key, command, connection, callback))
        return True

    def _connected_now(self, key: bytes) -> NodeConnection | None:
        """The open connection to the node owning ``key``, or None when that node is unknown or not connected now
        (a command sent without suspending then goes the awaited way)."""
        try:
            connection = self._connections.get(self.router.node_for(key))
        except TierUnavailable:
            return None
        return None if connection is None or connection.closed else connection

    def execute_many_then(self, keys: list[bytes], commands: list[bytes], callback: ManyReplyCallback) -> bool:
        """:meth:`execute_then` of each command (``commands[i]`` for ``keys[i]``), in order, all or none: True when
        every key's node is known and connected (all were sent), False, sending nothing, otherwise.

        ``callback(indexes, replies)`` gets each command's reply once: the replies of one node's commands
        together, in their order, as soon as the last of them arrived (a batch of replies, one step, for a
        pipeline's SETs); a command that node redirected, alone, once it was executed where it belongs. With
        :attr:`one_node`, :meth:`execute_joined_then` does the same without a bytes object per command."""
        by_connection: dict[NodeConnection, list[int]] = {}
        for index, key in enumerate(keys):
            connection = self._connected_now(key)
            if connection is None:
                return False
            by_connection.setdefault(connection, []).append(index)
        for connection, indexes in by_connection.items():
            node_commands = [commands[index] for index in indexes]
            connection.send_many_then(
                node_commands, partial(self._replied_many, keys, commands, connection, callback, indexes)
            )
        return True

    def execute_joined_then(
        self,
        count: int,
        commands: bytes,
        separate: Callable[[], tuple[list[bytes], list[bytes]]],
        callback: ManyReplyCallback,
    ) -> bool:
        """:meth:`execute_many_then` of ``count`` encoded commands joined back to back in ``commands``, when
        :attr:`one_node` (the caller checked): no bytes object per command. ``separate()`` gives their keys and
        commands apart, asked only when one of them must be sent again (a node still loading its data, a Sentinel
        master that became a replica)."""
        connection = self._connected_now(b"")  # one node serves every key
        if connection is None:
            return False
        connection.send_joined_then(count, commands, partial(self._replied_joined, separate, connection, callback))
        return True

    def _replied_joined(
        self,
        separate: Callable[[], tuple[list[bytes], list[bytes]]],
        connection: NodeConnection,
        callback: ManyReplyCallback,
        replies: list[Reply | TierUnavailable],
    ) -> None:
        """The replies of an :meth:`execute_joined_then`, handed on as :meth:`_replied_many` does."""
        if _executed_all(replies):
            callback(range(len(replies)), replies)
            return
        keys, commands = separate()
        self._replied_many(keys, commands, connection, callback, range(len(keys)), replies)

    def _replied_many(
        self,
        keys: list[bytes],
        commands: list[bytes],
        connection: NodeConnection,
        callback: ManyReplyCallback,
        indexes: Sequence[int],
        replies: list[Reply | TierUnavailable],
    ) -> None:
        """The replies of the commands ``indexes`` of an :meth:`execute_many_then`, sent on ``connection``: handed
        on together, but for those Redis redirected (each of those goes on as in :meth:`_replied`)."""
        if _executed_all(replies):
            callback(indexes, replies)
            return
        executed: list[int] = []
        executed_replies: list[Reply | TierUnavailable] = []
        for index, reply in zip(indexes, replies, strict=True):
            if _redirection(reply):
                assert isinstance(reply, ReplyError)
                self._retry(keys[index], commands[index], connection, partial(_one_of_many, callback, index), reply)
            else:
                executed.append(index)
                executed_replies.append(reply)
        if executed:
            callback(executed, executed_replies)

    def _replied(
        self, key: bytes, command: bytes, connection: NodeConnection, callback: ReplyCallback, reply: Reply
    ) -> None:
        """The reply of an :meth:`execute_then` command: handed on, unless Redis redirected it."""
        if type(reply) is not ReplyError or not _redirection(reply):
            callback(reply)
            return
        self._retry(key, command, connection, callback, reply)

    def _retry(
        self, key: bytes, command: bytes, connection: NodeConnection, callback: ReplyCallback, redirect: ReplyError
    ) -> None:
        """Go on with a command sent without suspending that ``connection``'s node redirected: the rest of the
        attempts run as in :meth:`execute`, in a task, and ``callback`` gets the final reply (or failure)."""
        retry = asyncio.get_running_loop().create_task(self._attempts(key, [command], redirect, connection))
        retry.add_done_callback(partial(_hand_on, callback))
        self._background_retries.add(retry)
        retry.add_done_callback(self._background_retries.discard)

    async def _attempts(
        self,
        key: bytes,
        commands: list[bytes],
        redirect: ReplyError | None = None,
        connection: NodeConnection | None = None,
    ) -> list[Reply]:
        """Send ``commands`` until Redis executes them (see :meth:`execute_many`); ``redirect`` is what a first
        attempt (by :meth:`execute_then`) already got on ``connection``."""
        address: NodeAddress | None = None
        asking = False
        for attempt in range(0 if redirect is None else 1, MAX_ATTEMPTS):
            if redirect is not None:
                assert connection is not None
                address, asking = await self._follow(key, redirect, connection, attempt)
            if address is None:
                address = await self._owner(key)
            connection = await self._connection(address)
            if asking:
                connection.send(_ASKING).add_done_callback(_retrieve)  # its +OK (or error) is not needed
            futures = [connection.send(command) for command in commands]
            # Replies arrive in order: once the last is here, every earlier one is (a connection that fails
            # fails them all, the last included, and raises TierUnavailable here).
            await futures[-1]
            replies = [future.result() for future in futures]
            found = next((reply for reply in replies if _redirection(reply)), None)
            if found is None:
                return replies
            assert isinstance(found, ReplyError)
            redirect = found
        raise TierUnavailable(f"l3: gave up after {MAX_ATTEMPTS} redirections or retries for key {key[:64]!r}")

    async def _follow(
        self, key: bytes, redirect: ReplyError, connection: NodeConnection, attempt: int
    ) -> tuple[NodeAddress | None, bool]:
        """Where to send a command again after ``redirect`` (None: its owner, looked up again) and whether ASKING
        must precede it; waits before retrying an answer that says "not now"."""
        code = redirect.code
        self.counters.redirections += 1
        if code in ("MOVED", "ASK"):
            address = _redirect_target(redirect, connection.address)
            if code == "MOVED":
                self.router.moved(key, address)
                self._refresh_soon()
            return address, code == "ASK"
        if code == "READONLY":  # a failover made our node a replica
            connection.close(TierUnavailable(f"l3: {connection.address} is a replica now"))
            await self._refresh()
        else:
            await asyncio.sleep(min(0.5, 0.01 * 2 ** (attempt - 1)))
        return None, False

    async def execute_everywhere(self, command: bytes) -> list[Reply]:
        """Send ``command`` to every master (e.g. SCAN); returns their replies in :meth:`masters` order."""
        connections = [await self._connection(address) for address in self.masters()]
        return list(await asyncio.gather(*(connection.send(command) for connection in connections)))

    async def execute_on(self, address: NodeAddress, command: bytes) -> Reply:
        """Send ``command`` to one node (no redirection)."""
        return await (await self._connection(address)).send(command)

    def masters(self) -> list[NodeAddress]:
        """The nodes that own keys now."""
        return self.router.masters()

    def connected(self) -> int:
        """How many of :meth:`masters` have an open connection."""
        return sum(
            1
            for address in self.masters()
            if (connection := self._connections.get(address)) is not None and not connection.closed
        )

    async def _owner(self, key: bytes) -> NodeAddress:
        try:
            return self.router.node_for(key)
        except TierUnavailable:
            await self._refresh()
            return self.router.node_for(key)

    # --- connections -------------------------------------------------------------------------

    async def _connection(self, address: NodeAddress) -> NodeConnection:
        connection = self._connections.get(address)
        if connection is not None and not connection.closed:
            return connection
        if self._closed:
            raise TierUnavailable("l3: the client is closed")
        opening = self._opening.get(address)
        if opening is None:
            opening = asyncio.get_running_loop().create_task(self._open(address))
            self._opening[address] = opening
        return await asyncio.shield(opening)

    async def _open(self, address: NodeAddress) -> NodeConnection:
        try:
            connection = await NodeConnection.open(
                address,
                self.settings,
                tracking=self.tracking,
                heartbeat_seconds=self._heartbeat_seconds,
                on_push=self._pushed,
                on_lost=self._lost,
                select_database=self.settings.mode is not RedisMode.CLUSTER,
            )
        except (TierUnavailable, ConfigError) as error:
            self._note_error(str(error))
            raise TierUnavailable(str(error)) from error
        finally:
            self._opening.pop(address, None)
        self.counters.connections_opened += 1
        self._connections[address] = connection
        if self.last_error is not None:
            logger.info("l3: connected to %s again", address)
            self.last_error = None
        return connection

    def _lost(self, connection: NodeConnection, error: BaseException) -> None:
        if self._connections.get(connection.address) is connection:
            del self._connections[connection.address]
        self.counters.connections_lost += 1
        if self._closed:
            return
        self._note_error(str(error))
        self._lose_coherence(f"connection to {connection.address} lost: {error}")
        if isinstance(self.router, SentinelRouter | ClusterRouter):
            self._refresh_soon()

    def _pushed(self, connection: NodeConnection, push: Push) -> None:
        if len(push) < 2 or push[0] != b"invalidate":
            return
        self.counters.invalidation_messages += 1
        keys = push[1]
        if keys is None:
            self._on_invalidate(None)
            return
        if isinstance(keys, list):
            names = [key for key in keys if isinstance(key, bytes)]
            self.counters.invalidated_keys += len(names)
            self._on_invalidate(names)

    # --- topology ----------------------------------------------------------------------------

    async def _refresh(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self.router.refresh(self._ask_untracked))
        await asyncio.shield(self._refreshing)

    def _refresh_soon(self) -> None:
        if self._closed or (self._refreshing is not None and not self._refreshing.done()):
            return
        self._refreshing = asyncio.get_running_loop().create_task(self.router.refresh(self._ask_untracked))
        self._refreshing.add_done_callback(_log_refresh_failure)

    async def _ask_untracked(self, address: NodeAddress, command: bytes) -> Reply:
        """A topology question for a node: on its connection when there is one, else on a short-lived one."""
        connection = self._connections.get(address)
        if connection is not None and not connection.closed:
            return await connection.send(command)
        probe = await NodeConnection.open(
            address,
            self.settings,
            tracking=False,
            heartbeat_seconds=self.settings.timeout_seconds,
            on_push=lambda _connection, _push: None,
            on_lost=lambda _connection, _error: None,
            select_database=False,
        )
        try:
            return await probe.send(command)
        finally:
            probe.close()

    def _switched_master(self, address: NodeAddress) -> None:
        logger.warning("l3: sentinels switched the master of %r to %s", self.settings.master_name, address)
        for connection in list(self._connections.values()):
            if connection.address != address:
                connection.close(TierUnavailable(f"l3: {connection.address} is no longer the master"))
        self._lose_coherence(f"failover to {address}")

    # --- coherence ---------------------------------------------------------------------------

    def trusted(self) -> bool:
        """Whether local copies may be installed and served at this moment (re-checks when the deadline passed)."""
        if time.monotonic() > self.trusted_until:
            self.reconsider()
        return self.coherent

    def reconsider(self) -> None:
        """Recompute :attr:`trusted_until` from the connections' confirmations; drop trust when they are overdue."""
        if not self.tracking:
            return
        bound = TRUST_FRACTION * self.settings.max_staleness_seconds
        masters = self.router.masters()
        connections = [self._connections.get(address) for address in masters]
        if not masters or any(connection is None or connection.closed for connection in connections):
            oldest = -math.inf
        else:
            oldest = min(connection.confirmed_at for connection in connections if connection is not None)
        until = oldest + bound
        if until >= time.monotonic():
            if not self.coherent:
                logger.info("l3: every node confirmed its invalidations: local copies are kept again")
            self.coherent = True
            self.trusted_until = until
        elif self.coherent:
            self._lose_coherence(
                f"no confirmation from {', '.join(map(str, masters)) or 'any node'} within {bound:.3f}s"
            )

    def _lose_coherence(self, reason: str) -> None:
        if not self.tracking:
            return
        if self.coherent:
            logger.warning("l3: local copies dropped: %s", reason)
        self.coherent = False
        self.trusted_until = -math.inf
        self.counters.flushes += 1
        self._on_coherence_lost(reason)

    async def _watch(self) -> None:
        """Keep coherence honest every ``max_staleness / 10`` seconds, and reconnect to nodes that went away."""
        while True:
            await asyncio.sleep(self._watch_seconds)
            self.reconsider()
            missing = [
                address
                for address in self.masters()
                if address not in self._connections and address not in self._opening
            ]
            for address in missing:
                task = asyncio.get_running_loop().create_task(self._connection(address))
                task.add_done_callback(_ignore_failure)

    def _note_error(self, message: str) -> None:
        if self.last_error is None:
            logger.warning("%s", message)
        self.last_error = message


def _redirection(reply: Reply) -> bool:
    return isinstance(reply, ReplyError) and (reply.code in ("MOVED", "ASK") or reply.code in _RETRY_LATER)


def _executed_all(replies: list[Reply | TierUnavailable]) -> bool:
    """Whether Redis executed every command of ``replies`` (none redirected or refused for now)."""
    return replies.count(b"OK") == len(replies) or not any(map(_redirection, replies))


def _redirect_target(reply: ReplyError, current: NodeAddress) -> NodeAddress:
    """The node of ``-MOVED <slot> <host>:<port>`` / ``-ASK ...`` (an empty host means the node that answered)."""
    parts = reply.message.split()
    if len(parts) < 3:
        raise TierUnavailable(f"l3: malformed redirection {reply.message!r}")
    host, _colon, port = parts[2].rpartition(":")
    return NodeAddress(host.strip("[]") or current.host, int(port))


def _retrieve(future: asyncio.Future[Reply]) -> None:
    if not future.cancelled():
        future.exception()


def _one_of_many(callback: ManyReplyCallback, index: int, reply: Reply | TierUnavailable) -> None:
    """Hand the final reply of a redirected command of an execute_many_then on, as a batch of one."""
    callback((index,), [reply])


def _hand_on(callback: ReplyCallback, retry: asyncio.Task[list[Reply]]) -> None:
    """Give a redirected command's final reply (or failure) to its callback."""
    if retry.cancelled():
        callback(TierUnavailable("l3: the client closed while a command was redirected"))
        return
    error = retry.exception()
    if error is None:
        callback(retry.result()[-1])
    elif isinstance(error, TierUnavailable):
        callback(error)
    else:
        callback(TierUnavailable(f"l3: {error}"))


def _ignore_failure(task: asyncio.Task[NodeConnection]) -> None:
    with contextlib.suppress(BaseException):
        task.result()


def _log_refresh_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("l3: topology refresh failed: %s", task.exception())
