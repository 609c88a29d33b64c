"""The commands about expiry (EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, GETEX, PERSIST, TTL, PTTL) on top of
:class:`CacheManager`, with redis-server 7's options, range checks and replies.

Redis keeps expire times as unix milliseconds in 64 bits and refuses any time whose milliseconds overflow
("invalid expire time in '<command>' command"); the cache keeps a TTL in seconds, converted here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memories.sidecar.resp.arguments import StringOptions, expire_deadline, now_ms
from memories.sidecar.resp.key_commands import WRONG_TYPE
from memories.sidecar.resp.protocol import encode_bulk, encode_error, encode_integer
from memories.sidecar.resp.state import Handler, Reply, RespSession

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager

_ZERO, _ONE = b":0\r\n", b":1\r\n"
#: EXPIRE and friends: (unit in milliseconds, whether the time is relative to now).
_EXPIRE_COMMANDS = {
    b"expire": (1000, True),
    b"pexpire": (1, True),
    b"expireat": (1000, False),
    b"pexpireat": (1, False),
}
_EXPIRE_FLAGS = (b"NX", b"XX", b"GT", b"LT")


class ExpireCommands:
    """Handlers of the expiry commands of one cache."""

    def __init__(self, cache: CacheManager) -> None:
        self._cache = cache

    def definitions(self) -> list[tuple[str, int, Handler]]:
        """``(name, arity, handler)`` of every command served here (Redis' arity convention)."""
        expire: Handler = self._expire
        return [
            *((name.decode(), -3, expire) for name in _EXPIRE_COMMANDS),
            ("getex", -2, self._getex),
            ("persist", 2, self._persist),
            ("ttl", 2, self._ttl),
            ("pttl", 2, self._ttl),
        ]

    def _expire(self, arguments: list[bytes], session: RespSession) -> Reply:
        command = arguments[0].lower()
        flags: set[bytes] = set()
        for option in arguments[3:]:
            flag = option.upper()
            if flag not in _EXPIRE_FLAGS:
                return encode_error(f"ERR Unsupported option {option.decode('utf-8', 'replace')}")
            flags.add(flag)
        if b"NX" in flags and len(flags) > 1:
            return encode_error("ERR NX and XX, GT or LT options at the same time are not compatible")
        if {b"GT", b"LT"} <= flags:
            return encode_error("ERR GT and LT options at the same time are not compatible")
        unit_ms, relative = _EXPIRE_COMMANDS[command]
        now = now_ms()
        deadline = expire_deadline(arguments[2], unit_ms, now if relative else 0, command.decode())
        if isinstance(deadline, bytes):
            return deadline
        return self._apply_expire(arguments[1], deadline, now, flags)

    async def _apply_expire(self, key: bytes, deadline: int, now: int, flags: set[bytes]) -> bytes:
        if flags:
            try:
                remaining = await self._cache.get_ttl(key)
            except KeyError:
                return _ZERO
            current = None if remaining is None else now + remaining * 1000
            if (
                (b"NX" in flags and current is not None)
                or (b"XX" in flags and current is None)
                or (b"GT" in flags and (current is None or deadline <= current))
                or (b"LT" in flags and current is not None and deadline >= current)
            ):
                return _ZERO
        if deadline <= now:
            return _ONE if await self._cache.delete(key) else _ZERO
        return _ONE if await self._cache.expire(key, (deadline - now) / 1000) else _ZERO

    def _getex(self, arguments: list[bytes], session: RespSession) -> Reply:
        options = StringOptions.parse(arguments[2:], "getex")
        if isinstance(options, bytes):
            return options
        return self._get_and_expire(arguments[1], options, session.null)

    async def _get_and_expire(self, key: bytes, options: StringOptions, null: bytes) -> bytes:
        value = await self._cache.get(key)
        if value is None:
            return null
        if not isinstance(value, bytes):
            return WRONG_TYPE
        ttl = options.ttl("getex")
        if isinstance(ttl, bytes):
            return ttl
        if ttl is not None and ttl <= 0:  # EXAT/PXAT already past
            await self._cache.delete(key)
        elif ttl is not None:
            await self._cache.expire(key, ttl)
        elif options.persist:
            await self._cache.persist(key)
        return encode_bulk(value)

    async def _persist(self, arguments: list[bytes], session: RespSession) -> bytes:
        return _ONE if await self._cache.persist(arguments[1]) else _ZERO

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
