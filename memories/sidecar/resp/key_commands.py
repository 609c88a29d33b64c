"""The key and value commands (GET, SET, DEL, MGET, INCR, ...) on top of :class:`CacheManager`.

A handler returns the encoded reply as ``bytes`` when it can answer at once (an L1 hit
through ``cache.lookup_nowait``, a write through ``cache.set_nowait`` when only L1 is
configured), a future of it for a plain SET that waits for L3 (``cache.set_then``: callbacks,
no coroutine), or a coroutine producing the reply when it must wait for the cache otherwise (L1 miss
with lower tiers, writes to L2/L3). Errors follow Redis' wording.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from memories.errors import WrongValueType
from memories.event_loops import RunningLoop
from memories.optimization.cache.integers import INT64_MAX, INT64_MIN
from memories.sidecar.resp.arguments import NOT_INTEGER, SYNTAX_ERROR, StringOptions, parse_integer
from memories.sidecar.resp.fast_path import FastRun
from memories.sidecar.resp.protocol import OK, encode_array, encode_bulk, encode_error, encode_integer
from memories.sidecar.resp.state import Handler, Reply, RespLimits, RespSession

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager
    from memories.optimization.cache.manager import Condition

WRONG_TYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
#: The TTL (seconds) of a key SET with an EXAT/PXAT time already past.
ALREADY_EXPIRED_TTL = 1e-9


class KeyCommands:
    """Handlers of the commands that read or write keys of one cache; ``limits`` may be replaced (reload)."""

    def __init__(self, cache: CacheManager, limits: RespLimits) -> None:
        self._cache = cache
        self._lookup_nowait = cache.lookup_nowait
        self._set_nowait = cache.set_nowait
        self._set_then = cache.set_then
        self._missing = type(cache).MISSING
        self._loop = RunningLoop()  # a future per SET that waits for L3 outside the compiled batches
        self.limits = limits

    def definitions(self) -> list[tuple[str, int, Handler]]:
        """``(name, arity, handler)`` of every command served here (Redis' arity convention)."""
        return [
            ("get", 2, self._get),
            ("set", -3, self._set),
            ("del", -2, self._delete),
            ("unlink", -2, self._delete),
            ("exists", -2, self._exists),
            ("mget", -2, self._mget),
            ("mset", -3, self._mset),
            ("incr", 2, self._increment),
            ("decr", 2, self._increment),
            ("incrby", 3, self._increment),
            ("decrby", 3, self._increment),
            ("dbsize", 1, lambda arguments, session: encode_integer(len(self._cache))),
            ("flushdb", -1, self._flush),
            ("flushall", -1, self._flush),
        ]

    def run_fast(
        self, run: FastRun, data: bytes, start: int, budget: int, output_budget: int, null: bytes, max_bulk_length: int
    ) -> tuple[bytes, int, int, int, bool]:
        """Answer the leading plain GET and SET commands of ``data[start:]`` with the compiled ``run``, as ``_get``/``_set`` would.

        Returns ``run``'s ``(replies, consumed, gets, sets, incomplete)``; ``null`` is the session's null reply,
        ``budget``, ``output_budget`` and ``max_bulk_length`` are bytes (no command starts once ``budget`` bytes are
        consumed or ``output_budget`` bytes of replies encoded).
        """
        limits = self.limits
        return run(
            data,
            start,
            budget,
            output_budget,
            max_bulk_length,
            limits.max_key_length,
            limits.max_value_size,
            self._lookup_nowait,
            self._set_nowait,
            self._missing,
            WRONG_TYPE,
            null,
        )

    def _get(self, arguments: list[bytes], session: RespSession) -> Reply:
        value = self._lookup_nowait(arguments[1])
        if type(value) is bytes:
            return b"$%d\r\n%b\r\n" % (len(value), value)
        if value is None:
            return session.null
        if value is self._missing:
            return self._get_from_lower_tiers(arguments[1], session.null)
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
        limits = self.limits
        if len(key) > limits.max_key_length or len(value) > limits.max_value_size:
            refused = self._check_write(key, value)
            if refused is not None:
                return refused
        if len(arguments) == 3:
            return OK if self._set_nowait(key, value) else self._store_soon(key, value)
        options = StringOptions.parse(arguments[3:], "set")
        if isinstance(options, bytes):
            return options
        ttl = options.ttl("set")
        if isinstance(ttl, bytes):
            return ttl
        if ttl is not None and ttl <= 0:
            ttl = ALREADY_EXPIRED_TTL  # stored, and gone at its next read, as in redis-server
        return self._conditional_set(key, value, options, ttl, session.null)

    def _store_soon(self, key: bytes, value: bytes) -> Reply:
        reply: asyncio.Future[bytes] = self._loop().create_future()
        if self._set_then(key, value, partial(_acknowledge, reply)):
            return reply
        return self._store(key, value, None)

    async def _store(self, key: bytes, value: bytes, ttl: float | None) -> bytes:
        await self._cache.set(key, value, ttl=ttl)
        return OK

    async def _conditional_set(
        self, key: bytes, value: bytes, options: StringOptions, ttl: float | None, null: bytes
    ) -> bytes:
        """SET with NX/XX/GET/KEEPTTL, atomic in the cache (in Redis itself with L3, so across agents)."""
        condition: Condition | None = (
            "absent" if options.only_if_absent else "present" if options.only_if_present else None
        )
        if not options.want_previous:
            stored = await self._cache.set(key, value, ttl, condition=condition, keep_ttl=options.keep_ttl)
            return OK if stored else null
        _stored, previous = await self._cache.getset(key, value, ttl, condition=condition, keep_ttl=options.keep_ttl)
        if previous is not None and not isinstance(previous, bytes):
            return WRONG_TYPE
        return null if previous is None else encode_bulk(previous)

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

    def _mget(self, arguments: list[bytes], session: RespSession) -> Reply:
        values: list[bytes | None] = []
        for key in arguments[1:]:
            value = self._lookup_nowait(key)
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
        if not INT64_MIN <= step <= INT64_MAX:
            return encode_error("ERR increment or decrement would overflow")
        try:
            return encode_integer(await self._cache.increment(key, step))
        except WrongValueType as error:
            return encode_error(str(error))

    def _flush(self, arguments: list[bytes], session: RespSession) -> Reply:
        if len(arguments) > 2 or (len(arguments) == 2 and arguments[1].upper() not in (b"ASYNC", b"SYNC")):
            return SYNTAX_ERROR
        return self._clear()

    async def _clear(self) -> bytes:
        await self._cache.clear()
        return OK


def _acknowledge(reply: asyncio.Future[bytes], error: Exception | None) -> None:
    """Complete a SET's reply once the cache acknowledged the write (or failed it: the server encodes the error)."""
    if reply.done():  # the server stopped waiting (shutdown)
        return
    if error is None:
        reply.set_result(OK)
    else:
        reply.set_exception(error)
