"""The Redis commands the sidecar serves, on top of :class:`CacheManager`.

A handler returns the encoded reply as ``bytes`` when it can answer at once (an L1 hit
through ``cache.get_nowait``), or a coroutine producing the reply when it must wait for the
cache (L1 miss, writes). The server runs coroutines in order, so pipelined replies keep
their order. Errors follow Redis' wording so clients map them to the usual exceptions.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memories.errors import MemoriesError
from memories.sidecar.resp_arguments import NOT_INTEGER, SYNTAX_ERROR, SetOptions, parse_integer
from memories.sidecar.resp_info import render_info
from memories.sidecar.resp_protocol import (
    EMPTY_ARRAY,
    NULL_BULK,
    OK,
    PONG,
    RESP3_NULL,
    encode_array,
    encode_bulk,
    encode_error,
    encode_integer,
    encode_reply_array,
)

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager

logger = logging.getLogger(__name__)

Reply = bytes | Coroutine[Any, Any, bytes]
Handler = Callable[[list[bytes], "RespSession"], Reply]

WRONG_TYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
NO_AUTH = b"-NOAUTH Authentication required.\r\n"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UNAUTHENTICATED_ALLOWED = frozenset({b"AUTH", b"HELLO", b"QUIT"})


@dataclass
class RespSession:
    """Per-connection state."""

    client_id: int
    #: Null reply of the negotiated protocol: RESP2 null bulk, or RESP3 ``_`` after ``HELLO 3``.
    null: bytes = NULL_BULK
    authenticated: bool = False
    name: bytes | None = None
    closing: bool = False


@dataclass
class RespStatistics:
    """Counters the server updates and INFO and /metrics read."""

    started_at: float = field(default_factory=time.time)
    connections_current: int = 0
    connections_total: int = 0
    connections_rejected: int = 0
    protocol_errors: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class RespLimits:
    """Limits applied to writes (bytes)."""

    max_value_size: int
    max_key_length: int


class _Command:
    __slots__ = ("arity", "calls", "handler", "name")

    def __init__(self, name: str, arity: int, handler: Handler) -> None:
        self.name = name
        self.arity = arity  # Redis convention: exact when positive, minimum when negative
        self.handler = handler
        self.calls = 0


class CommandTable:
    """Dispatches parsed commands to handlers bound to one cache; ``token`` None means no auth."""

    def __init__(
        self,
        cache: CacheManager,
        limits: RespLimits,
        statistics: RespStatistics,
        token: str | None,
    ) -> None:
        self._cache = cache
        self._get_nowait = cache.get_nowait
        self._missing = type(cache).MISSING
        self.limits = limits
        self.statistics = statistics
        #: The auth token (None = no auth); the agent replaces it on a config reload. A plain
        #: attribute, not a callable: it is read for every command.
        self.token = token
        self._write_lock = asyncio.Lock()
        self._commands: dict[bytes, _Command] = {}
        for name, arity, handler in self._definitions():
            command = _Command(name, arity, handler)
            self._commands[name.encode()] = command
            self._commands[name.upper().encode()] = command

    def dispatch(self, arguments: list[bytes], session: RespSession) -> Reply:
        """Run one command; returns the reply or a coroutine producing it. Never raises for bad input."""
        command = self._commands.get(arguments[0])
        if command is None:
            command = self._commands.get(arguments[0].lower())
            if command is None:
                return self._unknown(arguments)
        if (
            not session.authenticated
            and self.token is not None
            and arguments[0].upper() not in _UNAUTHENTICATED_ALLOWED
        ):
            return NO_AUTH
        arity = command.arity
        count = len(arguments)
        if (arity > 0 and count != arity) or count < -arity:
            return encode_error(f"ERR wrong number of arguments for '{command.name}' command")
        command.calls += 1
        return command.handler(arguments, session)

    def call_counts(self) -> dict[str, int]:
        """Calls per command name since start."""
        return {command.name: command.calls for command in set(self._commands.values()) if command.calls}

    def command_count(self) -> int:
        """How many commands this table serves."""
        return len(set(self._commands.values()))

    def _unknown(self, arguments: list[bytes]) -> bytes:
        name = arguments[0][:128].decode("utf-8", "replace")
        return encode_error(f"ERR unknown command '{name}', with args beginning with: ")

    def _definitions(self) -> list[tuple[str, int, Handler]]:
        return [
            ("get", 2, self._get),
            ("set", -3, self._set),
            ("del", -2, self._delete),
            ("unlink", -2, self._delete),
            ("exists", -2, self._exists),
            ("expire", 3, self._expire),
            ("pexpire", 3, self._expire),
            ("persist", 2, self._persist),
            ("ttl", 2, self._ttl),
            ("pttl", 2, self._ttl),
            ("mget", -2, self._mget),
            ("mset", -3, self._mset),
            ("incr", 2, self._increment),
            ("decr", 2, self._increment),
            ("incrby", 3, self._increment),
            ("decrby", 3, self._increment),
            ("ping", -1, self._ping),
            ("echo", 2, lambda arguments, session: encode_bulk(arguments[1])),
            ("info", -1, self._info),
            ("dbsize", 1, lambda arguments, session: encode_integer(len(self._cache))),
            ("flushdb", -1, self._flush),
            ("flushall", -1, self._flush),
            ("quit", -1, self._quit),
            ("command", -1, self._command),
            ("config", -2, lambda arguments, session: EMPTY_ARRAY),
            ("client", -2, self._client),
            ("hello", -1, self._hello),
            ("select", 2, self._select),
            ("auth", -2, self._auth),
        ]

    # --- keys and values -------------------------------------------------------------------

    def _get(self, arguments: list[bytes], session: RespSession) -> Reply:
        value = self._get_nowait(arguments[1])
        if value is self._missing:
            return self._get_from_lower_tiers(arguments[1], session.null)
        if type(value) is bytes:
            return b"$%d\r\n%b\r\n" % (len(value), value)
        return WRONG_TYPE

    async def _get_from_lower_tiers(self, key: bytes, null: bytes) -> bytes:
        value = await self._cache.get(key)
        if value is None:
            return null
        return encode_bulk(value) if isinstance(value, bytes) else WRONG_TYPE

    def _check_write(self, key: bytes, value: bytes | None = None) -> bytes | None:
        if len(key) > self.limits.max_key_length:
            return encode_error(f"ERR key is longer than the limit of {self.limits.max_key_length} bytes")
        if value is not None and len(value) > self.limits.max_value_size:
            return encode_error(f"ERR value is larger than the limit of {self.limits.max_value_size} bytes")
        return None

    def _set(self, arguments: list[bytes], session: RespSession) -> Reply:
        key, value = arguments[1], arguments[2]
        refused = self._check_write(key, value)
        if refused is not None:
            return refused
        if len(arguments) == 3:
            return self._store(key, value, None)
        options = SetOptions.parse(arguments[3:])
        if isinstance(options, bytes):
            return options
        return self._conditional_set(key, value, options, session.null)

    async def _store(self, key: bytes, value: bytes, ttl: float | None) -> bytes:
        await self._cache.set(key, value, ttl=ttl)
        return OK

    async def _conditional_set(self, key: bytes, value: bytes, options: SetOptions, null: bytes) -> bytes:
        async with self._write_lock:
            previous = await self._cache.get(key) if options.need_previous else None
            if options.want_previous and previous is not None and not isinstance(previous, bytes):
                return WRONG_TYPE
            exists = previous is not None if options.need_previous else False
            ttl = options.ttl
            if options.keep_ttl:
                ttl = await self._remaining_ttl(key)
            skip = (options.only_if_absent and exists) or (options.only_if_present and not exists)
            if not skip:
                await self._cache.set(key, value, ttl=ttl)
        if options.want_previous:
            return null if previous is None else encode_bulk(previous)
        return null if skip else OK

    async def _remaining_ttl(self, key: bytes) -> float | None:
        try:
            return await self._cache.get_ttl(key)
        except KeyError:
            return None

    async def _delete(self, arguments: list[bytes], session: RespSession) -> bytes:
        deleted = 0
        for key in arguments[1:]:
            deleted += bool(await self._cache.delete(key))
        return encode_integer(deleted)

    async def _exists(self, arguments: list[bytes], session: RespSession) -> bytes:
        found = 0
        for key in arguments[1:]:
            found += bool(await self._cache.exists(key))
        return encode_integer(found)

    def _expire(self, arguments: list[bytes], session: RespSession) -> Reply:
        amount = parse_integer(arguments[2])
        if amount is None:
            return NOT_INTEGER
        seconds = amount / 1000 if arguments[0].lower() == b"pexpire" else float(amount)
        return self._apply_expire(arguments[1], seconds)

    async def _apply_expire(self, key: bytes, seconds: float) -> bytes:
        if seconds <= 0:
            return encode_integer(int(bool(await self._cache.delete(key))))
        return encode_integer(int(bool(await self._cache.expire(key, seconds))))

    async def _persist(self, arguments: list[bytes], session: RespSession) -> bytes:
        return encode_integer(int(bool(await self._cache.persist(arguments[1]))))

    async def _ttl(self, arguments: list[bytes], session: RespSession) -> bytes:
        try:
            remaining = await self._cache.get_ttl(arguments[1])
        except KeyError:
            return encode_integer(-2)
        if remaining is None:
            return encode_integer(-1)
        if arguments[0].lower() == b"pttl":
            return encode_integer(round(remaining * 1000))
        return encode_integer(int(remaining + 0.5))

    def _mget(self, arguments: list[bytes], session: RespSession) -> Reply:
        values: list[bytes | None] = []
        for key in arguments[1:]:
            value = self._get_nowait(key)
            if value is self._missing:
                return self._mget_from_lower_tiers(arguments[1:], session.null)
            values.append(value if isinstance(value, bytes) else None)
        return encode_array(values, session.null)

    async def _mget_from_lower_tiers(self, keys: list[bytes], null: bytes) -> bytes:
        values: list[bytes | None] = []
        for key in keys:
            value = await self._cache.get(key)
            values.append(value if isinstance(value, bytes) else None)
        return encode_array(values, null)

    def _mset(self, arguments: list[bytes], session: RespSession) -> Reply:
        if len(arguments) % 2 == 0:
            return encode_error("ERR wrong number of arguments for 'mset' command")
        pairs = list(zip(arguments[1::2], arguments[2::2], strict=True))
        for key, value in pairs:
            refused = self._check_write(key, value)
            if refused is not None:
                return refused
        return self._store_many(pairs)

    async def _store_many(self, pairs: list[tuple[bytes, bytes]]) -> bytes:
        for key, value in pairs:
            await self._cache.set(key, value)
        return OK

    def _increment(self, arguments: list[bytes], session: RespSession) -> Reply:
        name = arguments[0].lower()
        step = 1
        if len(arguments) == 3:
            parsed = parse_integer(arguments[2])
            if parsed is None:
                return NOT_INTEGER
            step = parsed
        if name.startswith(b"decr"):
            step = -step
        refused = self._check_write(arguments[1])
        return refused if refused is not None else self._add(arguments[1], step)

    async def _add(self, key: bytes, step: int) -> bytes:
        async with self._write_lock:
            current = await self._cache.get(key)
            if current is None:
                number = 0
            elif not isinstance(current, bytes):
                return WRONG_TYPE
            else:
                parsed = parse_integer(current)
                if parsed is None or not _INT64_MIN <= parsed <= _INT64_MAX:
                    return NOT_INTEGER
                number = parsed
            result = number + step
            if not _INT64_MIN <= result <= _INT64_MAX:
                return encode_error("ERR increment or decrement would overflow")
            ttl = await self._remaining_ttl(key) if current is not None else None
            await self._cache.set(key, b"%d" % result, ttl=ttl)
        return encode_integer(result)

    async def _flush(self, arguments: list[bytes], session: RespSession) -> bytes:
        await self._cache.clear()
        return OK

    # --- connection and server ------------------------------------------------------------

    def _ping(self, arguments: list[bytes], session: RespSession) -> bytes:
        if len(arguments) > 2:
            return encode_error("ERR wrong number of arguments for 'ping' command")
        return PONG if len(arguments) == 1 else encode_bulk(arguments[1])

    def _info(self, arguments: list[bytes], session: RespSession) -> bytes:
        sections = [argument.decode("utf-8", "replace").lower() for argument in arguments[1:]]
        return encode_bulk(render_info(self._cache, self.statistics, self.call_counts(), sections).encode())

    def _quit(self, arguments: list[bytes], session: RespSession) -> bytes:
        session.closing = True
        return OK

    def _command(self, arguments: list[bytes], session: RespSession) -> bytes:
        # redis-cli asks for COMMAND DOCS at start; an empty answer makes it skip hints.
        if len(arguments) > 1 and arguments[1].lower() == b"count":
            return encode_integer(self.command_count())
        return EMPTY_ARRAY

    def _client(self, arguments: list[bytes], session: RespSession) -> bytes:
        subcommand = arguments[1].lower()
        if subcommand == b"setname" and len(arguments) == 3:
            session.name = arguments[2] or None
            return OK
        if subcommand in (b"setinfo", b"no-evict", b"no-touch", b"reply") and len(arguments) >= 3:
            return OK
        if subcommand == b"getname":
            return session.null if session.name is None else encode_bulk(session.name)
        if subcommand == b"id":
            return encode_integer(session.client_id)
        name = subcommand.decode("utf-8", "replace")
        return encode_error(f"ERR unknown subcommand or wrong number of arguments for '{name}'. Try CLIENT HELP.")

    def _hello(self, arguments: list[bytes], session: RespSession) -> bytes:
        # redis-py 8 defaults to RESP3 and does not fall back, so HELLO 3 is accepted: every reply
        # this server sends is valid RESP3 once nulls use "_" (session.null).
        protocol = parse_integer(arguments[1]) if len(arguments) > 1 else 2
        if protocol not in (2, 3):
            return encode_error("NOPROTO unsupported protocol version")
        options = arguments[2:]
        while options:
            option = options[0].lower()
            if option == b"auth" and len(options) >= 3:
                refused = self._authenticate(options[2], session)
                if refused is not None:
                    return refused
                options = options[3:]
            elif option == b"setname" and len(options) >= 2:
                session.name = options[1]
                options = options[2:]
            else:
                return SYNTAX_ERROR
        if not session.authenticated and self.token is not None:
            return NO_AUTH
        session.null = RESP3_NULL if protocol == 3 else NULL_BULK
        fields: list[tuple[bytes, bytes]] = [
            (b"server", encode_bulk(b"memories")),
            (b"version", encode_bulk(b"7.0.0")),
            (b"proto", encode_integer(protocol)),
            (b"id", encode_integer(session.client_id)),
            (b"mode", encode_bulk(b"standalone")),
            (b"role", encode_bulk(b"master")),
            (b"modules", EMPTY_ARRAY),
        ]
        flat = [part for name, value in fields for part in (encode_bulk(name), value)]
        if protocol == 3:
            return b"%%%d\r\n" % len(fields) + b"".join(flat)
        return encode_reply_array(flat)

    def _select(self, arguments: list[bytes], session: RespSession) -> bytes:
        if parse_integer(arguments[1]) == 0:
            return OK
        return encode_error("ERR DB index is out of range")

    def _auth(self, arguments: list[bytes], session: RespSession) -> bytes:
        if len(arguments) > 3:
            return SYNTAX_ERROR
        refused = self._authenticate(arguments[-1], session)
        return OK if refused is None else refused

    def _authenticate(self, password: bytes, session: RespSession) -> bytes | None:
        token = self.token
        if token is None:
            return encode_error(
                "ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?"
            )
        if hmac.compare_digest(password, token.encode()):
            session.authenticated = True
            return None
        return encode_error("WRONGPASS invalid username-password pair or user is disabled.")


def error_reply(error: BaseException) -> bytes:
    """The RESP error for an exception a command raised (engine errors keep their message)."""
    if isinstance(error, MemoriesError | ValueError):
        return encode_error(f"ERR {error}")
    logger.exception("RESP command failed", exc_info=error)
    return encode_error(f"ERR internal error: {type(error).__name__}")
