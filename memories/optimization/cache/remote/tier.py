"""L3: the shared Redis behind every agent of a policy, holding the policy's keys under its prefix.

L3 is the source of truth of a cache that has it: a write is acknowledged once Redis has it, and conditional
writes and increments are executed by Redis itself (``SET ... NX|XX|GET``, ``INCRBY``), so they stay atomic across
agents. Keys are ``<prefix><key>``; expiry uses Redis' own clock (``PX``, ``PTTL``), so every agent agrees on it.
Values are stored as described in :mod:`memories.optimization.cache.remote.values`.

Redis enforces its own memory limit: ``capacity_bytes`` is only the largest value this tier writes, and
``bytes_used`` and ``entries`` are not tracked (reported as 0). Every failure to reach Redis raises
:class:`memories.errors.TierUnavailable` (counted in ``errors``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from functools import partial

from memories.errors import TierUnavailable, WrongValueType
from memories.optimization.cache.remote.client import RemoteClient
from memories.optimization.cache.remote.encoding import joined_set_commands, set_commands
from memories.optimization.cache.remote.protocol import Reply, ReplyError, encode_command
from memories.optimization.cache.remote.settings import RemoteSettings
from memories.optimization.cache.stats import RemoteStatus, TierCounters, TierStats
from memories.optimization.cache.tier import Presence, StoredValue

#: Returns {sha1hex(value), PTTL} of KEYS[1], or nil when absent (RemoteTier.digest).
_DIGEST_SCRIPT = (
    b"local value = redis.call('GET', KEYS[1]) "
    b"if not value then return false end "
    b"return {redis.sha1hex(value), redis.call('PTTL', KEYS[1])}"
)
#: Keys asked per SCAN call and deleted per batch by :meth:`RemoteTier.clear`.
SCAN_COUNT = 1000


class RemoteTier:
    """See the module docstring. ``clock`` returns seconds (the local expiry times); ``on_invalidate`` receives the
    cache keys (prefix removed) that another client changed, or None for all of them; ``on_coherence_lost`` is
    called when local copies can no longer be trusted."""

    name = "l3"

    def __init__(
        self,
        settings: RemoteSettings,
        clock: Callable[[], float],
        *,
        on_invalidate: Callable[[list[str] | None], None],
        on_coherence_lost: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.capacity_bytes = settings.max_value_bytes
        self.counters = TierCounters()
        self._clock = clock
        self._prefix = settings.prefix.encode("utf-8", "surrogateescape")
        self._on_invalidate = on_invalidate
        self.client = RemoteClient(settings, on_invalidate=self._invalidated, on_coherence_lost=on_coherence_lost)

    async def start(self) -> bool:
        """Connect; returns whether Redis answered (it is retried in the background otherwise)."""
        return await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    def _name(self, key: str) -> bytes:
        return self._prefix + key.encode("utf-8", "surrogateescape")

    def _invalidated(self, names: list[bytes] | None) -> None:
        if names is None:
            self._on_invalidate(None)
            return
        prefix, length = self._prefix, len(self._prefix)
        keys = [name[length:].decode("utf-8", "surrogateescape") for name in names if name.startswith(prefix)]
        if keys:
            self._on_invalidate(keys)

    async def _run(self, key: str, *commands: bytes) -> list[Reply]:
        try:
            return await self.client.execute_many(self._name(key), list(commands))
        except TierUnavailable:
            self.counters.errors += 1
            raise

    def _milliseconds_until(self, expires_at: float) -> int:
        return max(1, math.ceil((expires_at - self._clock()) * 1000))

    def _expires_at(self, milliseconds_left: Reply) -> float | None:
        return (
            None
            if not isinstance(milliseconds_left, int) or milliseconds_left < 0
            else (self._clock() + milliseconds_left / 1000)
        )

    # --- reads -------------------------------------------------------------------------------

    async def get(self, key: str, *, count: bool = True) -> StoredValue | None:
        """The stored bytes of ``key`` and their expiry, or None. Raises TierUnavailable, WrongValueType."""
        name = self._name(key)
        value, milliseconds_left = await self._run(key, encode_command(b"GET", name), encode_command(b"PTTL", name))
        _raise_for(value)
        if count:
            self.counters.hits += value is not None
            self.counters.misses += value is None
        if not isinstance(value, bytes):
            return None
        return StoredValue(value, self._expires_at(milliseconds_left))

    async def digest(self, key: str) -> tuple[str | None, float | None]:
        """The SHA-1 (hex) of the bytes stored under ``key`` and their expiry, or (None, None) when absent —
        computed by Redis, so confirming a copy costs a few bytes instead of the value. Raises TierUnavailable
        (also when scripting is refused, e.g. by an ACL)."""
        (reply,) = await self._run(key, encode_command(b"EVAL", _DIGEST_SCRIPT, b"1", self._name(key)))
        _raise_for(reply)
        if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[0], bytes):
            return None, None
        return reply[0].decode(), self._expires_at(reply[1])

    async def ttl(self, key: str) -> Presence | None:
        """Whether ``key`` exists and its expiry (None: never). Raises TierUnavailable."""
        (milliseconds_left,) = await self._run(key, encode_command("PTTL", self._name(key)))
        _raise_for(milliseconds_left)
        if milliseconds_left == -2:
            return None
        return Presence(self._expires_at(milliseconds_left))

    # --- writes ------------------------------------------------------------------------------

    def _set_command(
        self,
        name: bytes,
        data: bytes,
        expires_at: float | None,
        condition: str | None,
        keep_ttl: bool,
        get_previous: bool,
    ) -> bytes:
        arguments: list[bytes | str | int] = [b"SET", name, data]
        if condition is not None:
            arguments.append(condition)
        if get_previous:
            arguments.append("GET")
        if keep_ttl:
            arguments.append("KEEPTTL")
        elif expires_at is not None:
            arguments += [b"PX", b"%d" % self._milliseconds_until(expires_at)]
        return encode_command(*arguments)

    async def set(
        self,
        key: str,
        data: bytes,
        expires_at: float | None,
        *,
        condition: str | None = None,
        keep_ttl: bool = False,
        get_previous: bool = False,
    ) -> tuple[bool, bytes | None]:
        """``SET`` with Redis' options: ``condition`` "NX" or "XX", ``keep_ttl``, ``get_previous``.

        Returns (whether the value was stored, the previous bytes when asked). Raises TierUnavailable (outcome
        unknown), WrongValueType (GET of a non-string).
        """
        command = self._set_command(self._name(key), data, expires_at, condition, keep_ttl, get_previous)
        (reply,) = await self._run(key, command)
        _raise_for(reply)
        if get_previous:
            previous = reply if isinstance(reply, bytes) else None
            if condition is None:
                return True, previous
            # With NX/XX and GET, Redis answers the old value either way; whether it stored follows from it.
            return (previous is None) == (condition == "NX"), previous
        return reply is not None, None

    def set_then(
        self, key: str, data: bytes, expires_at: float | None, done: Callable[[Exception | None], None]
    ) -> bool:
        """A plain ``SET`` without suspending: True when it was sent at once, and ``done`` then gets None once Redis
        stored it, or the TierUnavailable (outcome unknown) or WrongValueType. False, sending nothing, when the
        key's node has no open connection now (use :meth:`set`)."""
        name = self._name(key)
        if expires_at is None and len(data) <= 4096:  # encode_command's result, in one step
            command = b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(name), name, len(data), data)
        else:
            command = self._set_command(name, data, expires_at, None, False, False)
        return self.client.execute_then(name, command, partial(self._set_replied, done))

    def set_many_then(
        self, keys: list[str], datas: list[bytes], done: Callable[[Sequence[int], list[Exception | None]], None]
    ) -> bool:
        """:meth:`set_then` of each pair (no expiry), in order: True when every one was sent at once, and
        ``done(indexes, outcomes)`` then gets each one's outcome once, as :meth:`set_then`'s ``done`` does, those
        of one node's SETs together (see :meth:`RemoteClient.execute_many_then
        <memories.optimization.cache.remote.client.RemoteClient.execute_many_then>`). False, sending nothing, when
        some key's node has no open connection now."""
        client, prefix, replied = self.client, self._prefix, partial(self._set_many_replied, done)
        if client.one_node:  # no name and command per key: those are made only if Redis asks for some again
            joined = joined_set_commands(prefix, keys, datas)
            return client.execute_joined_then(len(keys), joined, partial(set_commands, prefix, keys, datas), replied)
        names, commands = set_commands(prefix, keys, datas)
        return client.execute_many_then(names, commands, replied)

    def _set_replied(self, done: Callable[[Exception | None], None], reply: Reply | TierUnavailable) -> None:
        done(self._set_outcome(reply))

    def _set_many_replied(
        self,
        done: Callable[[Sequence[int], list[Exception | None]], None],
        indexes: Sequence[int],
        replies: list[Reply | TierUnavailable],
    ) -> None:
        if replies.count(b"OK") == len(replies):  # nearly always
            done(indexes, [None] * len(replies))
        else:
            done(indexes, [self._set_outcome(reply) for reply in replies])

    def _set_outcome(self, reply: Reply | TierUnavailable) -> Exception | None:
        """None when Redis stored a plain SET, else the exception set() raises (TierUnavailable, WrongValueType)."""
        if reply == b"OK":  # nearly always
            return None
        if isinstance(reply, TierUnavailable):
            self.counters.errors += 1
            return reply
        try:
            _raise_for(reply)
        except (TierUnavailable, WrongValueType) as error:
            return error
        return None

    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it existed. Raises TierUnavailable."""
        (reply,) = await self._run(key, encode_command(b"UNLINK", self._name(key)))
        _raise_for(reply)
        return bool(reply)

    async def expire_at(self, key: str, expires_at: float | None) -> bool:
        """Make ``key`` expire at ``expires_at`` (None: never); return whether it exists. Raises TierUnavailable."""
        name = self._name(key)
        if expires_at is None:
            command = encode_command("PERSIST", name)
        else:
            command = encode_command("PEXPIRE", name, self._milliseconds_until(expires_at))
        (reply,) = await self._run(key, command)
        _raise_for(reply)
        return bool(reply)

    async def increment(self, key: str, amount: int) -> tuple[int, float | None]:
        """``INCRBY``: the new number and the key's expiry. Raises WrongValueType (not an integer, overflow),
        TierUnavailable."""
        name = self._name(key)
        number, milliseconds_left = await self._run(
            key, encode_command("INCRBY", name, amount), encode_command("PTTL", name)
        )
        _raise_for(number)
        if not isinstance(number, int):
            raise TierUnavailable(f"l3: INCRBY answered {number!r:.80}")
        return number, self._expires_at(milliseconds_left)

    async def clear(self) -> None:
        """Delete every key under the prefix, on every master (SCAN + UNLINK). Raises TierUnavailable."""
        pattern = _glob_escape(self._prefix) + b"*"
        client = self.client
        for address in client.masters():
            cursor = b"0"
            while True:
                reply = await client.execute_on(
                    address, encode_command("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
                )
                _raise_for(reply)
                if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[1], list):
                    raise TierUnavailable(f"l3: SCAN answered {reply!r:.80}")
                cursor = reply[0] if isinstance(reply[0], bytes) else b"0"
                names = [name for name in reply[1] if isinstance(name, bytes)]
                await asyncio.gather(*(client.execute(name, encode_command("UNLINK", name)) for name in names))
                if cursor == b"0":
                    break

    def stats(self) -> TierStats:
        return self.counters.snapshot(self.name, 0, self.capacity_bytes, 0)

    def status(self, invalidations_applied: int, revalidations: dict[str, int]) -> RemoteStatus:
        """The state of the connections and of coherence (see RemoteStatus); ``revalidations`` counts recovered L2
        entries L3 confirmed ("kept") or not ("dropped")."""
        client = self.client
        counters = client.counters
        return RemoteStatus(
            mode=self.settings.mode.value,
            coherence=self.settings.coherence.value,
            nodes=tuple(str(address) for address in client.masters()),
            connected_nodes=client.connected(),
            trusted=client.trusted(),
            last_error=client.last_error,
            invalidation_messages=counters.invalidation_messages,
            invalidated_keys=counters.invalidated_keys,
            invalidations_applied=invalidations_applied,
            recovered_kept=revalidations["kept"],
            recovered_dropped=revalidations["dropped"],
            flushes=counters.flushes,
            redirections=counters.redirections,
            connections_opened=counters.connections_opened,
            connections_lost=counters.connections_lost,
        )


def _raise_for(reply: Reply) -> None:
    """Turn an error reply into the matching exception (WRONGTYPE and integer errors are the caller's fault)."""
    if not isinstance(reply, ReplyError):
        return
    if reply.code == "WRONGTYPE" or "not an integer" in reply.message or "overflow" in reply.message:
        raise WrongValueType(reply.message)
    raise TierUnavailable(f"l3: Redis refused a command: {reply.message}")


def _glob_escape(text: bytes) -> bytes:
    return b"".join(b"\\" + bytes([byte]) if byte in b"*?[]\\" else bytes([byte]) for byte in text)
