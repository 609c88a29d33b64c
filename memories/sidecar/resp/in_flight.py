"""The commands of one RESP connection that wait on the cache at the same time, their replies kept in pipeline order.

A client that pipelines writes to a cache with L3 would otherwise wait one Redis round trip per command: each
write waits for Redis before it is acknowledged. A command may start while earlier ones of the same connection
still wait when it reads or writes exactly one key that none of them touches (GET, SET, INCR, EXPIRE, DEL of one
key, ...): commands on different keys commute, and commands on one key still run one after the other, so every
reply is the one the pipeline would get run command by command. Any other command (MGET, MSET, FLUSHALL, AUTH,
HELLO, SELECT, QUIT, ...) waits until nothing is in flight, and nothing starts while it waits.

Running beside others is for pipelines waiting on a slow L3, not for load: a connection's first waiting command
always starts (as without this module), but a further one only while fewer than ``WaitBudget.limit`` commands wait
on the whole server. Measured with a saturated agent (50 pipelining clients on loopback), letting every connection
run 16 commands at once cut throughput to about half and raised p99 tenfold (the event loop fell behind the L3
replies and local copies lost their trust); the budget keeps that case as it was. (Much of that cost was the
cyclic GC's full collections, now rarer: ``memories.sidecar.cli.GC_THRESHOLDS``. A pipeline's plain SETs now go
as batches, each counting as one command: :mod:`memories.sidecar.resp.set_batch`.)
"""

from __future__ import annotations

from collections import deque

#: Commands that touch exactly the key in their second argument and nothing else (of the session or the server).
_ONE_KEY = frozenset(
    name
    for command in (
        *(b"get", b"set", b"expire", b"pexpire", b"expireat", b"pexpireat", b"getex", b"persist", b"ttl", b"pttl"),
        *(b"incr", b"decr", b"incrby", b"decrby"),
    )
    for name in (command, command.upper())
)
#: Commands that take any number of keys: one key only is a one-key command.
_KEYS = frozenset(name for command in (b"del", b"unlink", b"exists") for name in (command, command.upper()))
#: Replies waiting at most, per connection (a longer pipeline waits for the oldest to finish).
MAX_IN_FLIGHT = 64


class WaitBudget:
    """Commands waiting on the cache across every connection of one server, and how many may wait before a
    connection that already has one waiting must let it finish first."""

    __slots__ = ("limit", "waiting")

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self.waiting = 0


class _Barrier:
    """The key of a command that touches more than one key, or the session: no other command starts beside it."""


_EVERY_KEY = _Barrier()


def one_key(arguments: list[bytes]) -> bytes | None:
    """The only key ``arguments`` (a parsed command) touch, or None when the command is not a one-key command."""
    if len(arguments) < 2:
        return None
    name = arguments[0]
    if name in _ONE_KEY or (name in _KEYS and len(arguments) == 2):
        return arguments[1]
    lowered = name.lower()
    if lowered in _ONE_KEY or (lowered in _KEYS and len(arguments) == 2):
        return arguments[1]
    return None


class Reply:
    """The place of one reply in pipeline order: ``value`` is None until the command finishes."""

    __slots__ = ("key", "value")

    def __init__(self, key: bytes | _Barrier | None, value: bytes | None) -> None:
        self.key = key
        self.value = value


class InFlight:
    """The replies of one connection not yet written, oldest first, and the keys their commands touch."""

    __slots__ = ("_budget", "_keys", "_replies")

    def __init__(self, budget: WaitBudget) -> None:
        self._budget = budget
        self._replies: deque[Reply] = deque()
        self._keys: set[bytes | _Barrier] = set()

    def __bool__(self) -> bool:
        """True while some reply waits (for its command, or for an older reply)."""
        return bool(self._replies)

    def __len__(self) -> int:
        """Replies waiting (for their command, or for an older reply)."""
        return len(self._replies)

    def may_start(self, arguments: list[bytes]) -> bool:
        """Whether the command ``arguments`` may start now, beside the commands in flight."""
        if not self._replies:
            return True
        if _EVERY_KEY in self._keys or len(self._replies) >= MAX_IN_FLIGHT:
            return False
        if self._budget.waiting >= self._budget.limit:
            return False
        key = one_key(arguments)
        return key is not None and key not in self._keys

    def start(self, arguments: list[bytes]) -> Reply:
        """Reserve the place of the reply of ``arguments``, a command that started and waits."""
        key: bytes | _Barrier | None = one_key(arguments)
        if key is None:
            key = _EVERY_KEY
        self._keys.add(key)
        self._budget.waiting += 1
        reply = Reply(key, None)
        self._replies.append(reply)
        return reply

    def start_barrier(self) -> Reply:
        """Reserve the place of the replies of a batch of commands that started together and wait (nothing
        starts beside them); it counts as one command against the budget."""
        self._keys.add(_EVERY_KEY)
        self._budget.waiting += 1
        reply = Reply(_EVERY_KEY, None)
        self._replies.append(reply)
        return reply

    def add_ready(self, value: bytes) -> None:
        """Queue a reply that is ready but must follow the replies in flight."""
        self._replies.append(Reply(None, value))

    def finish(self, reply: Reply, value: bytes) -> list[bytes]:
        """Record that ``reply``'s command answered ``value``; return the replies now writable, in order."""
        reply.value = value
        self._budget.waiting -= 1
        if reply.key is not None:
            self._keys.discard(reply.key)
        writable: list[bytes] = []
        replies = self._replies
        while replies and replies[0].value is not None:
            writable.append(replies.popleft().value)  # type: ignore[arg-type]
        return writable
