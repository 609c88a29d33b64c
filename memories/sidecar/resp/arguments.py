"""Arguments of RESP commands, read as redis-server 7 reads them: strict integers, the options of SET and GETEX,
and expire times (with redis-server's range checks and error replies)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from memories.optimization.cache.integers import INT64_MAX, INT64_MIN, parse_integer
from memories.sidecar.resp.protocol import encode_error

__all__ = ["NOT_INTEGER", "SYNTAX_ERROR", "StringOptions", "expire_deadline", "parse_integer"]

SYNTAX_ERROR = b"-ERR syntax error\r\n"
NOT_INTEGER = b"-ERR value is not an integer or out of range\r\n"
_EXPIRE_UNITS = {b"EX": (1000, True), b"PX": (1, True), b"EXAT": (1000, False), b"PXAT": (1, False)}


def now_ms() -> int:
    """Unix time in milliseconds, the clock of redis-server's expire times."""
    return time.time_ns() // 1_000_000


def invalid_expire_time(command: str) -> bytes:
    """redis-server's reply to an expire time out of range (``command`` in lower case)."""
    return encode_error(f"ERR invalid expire time in '{command}' command")


def expire_deadline(argument: bytes, unit_ms: int, base_ms: int, command: str) -> int | bytes:
    """EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT's time: unix milliseconds (``argument`` × ``unit_ms`` + ``base_ms``, 0 for
    the absolute forms; it may be in the past), or the error reply redis-server gives for a non-integer or a time
    whose milliseconds overflow 64 bits."""
    amount = parse_integer(argument)
    if amount is None:
        return NOT_INTEGER
    if unit_ms == 1000 and not INT64_MIN // 1000 < amount <= INT64_MAX // 1000:
        return invalid_expire_time(command)
    deadline = amount * unit_ms
    if deadline > INT64_MAX - base_ms:
        return invalid_expire_time(command)
    return deadline + base_ms


@dataclass
class StringOptions:
    """The options of ``SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`` and of ``GETEX key
    [EX s|PX ms|EXAT t|PXAT t|PERSIST]``, parsed as redis-server's parseExtendedStringArgumentsOrReply does."""

    only_if_absent: bool = False
    only_if_present: bool = False
    want_previous: bool = False
    keep_ttl: bool = False
    persist: bool = False
    expire_kind: bytes | None = None  # EX, PX, EXAT or PXAT
    expire_argument: bytes = b""

    @classmethod
    def parse(cls, options: list[bytes], command: Literal["set", "getex"]) -> StringOptions | bytes:
        """The options after ``SET key value`` or ``GETEX key``, or the syntax error reply."""
        parsed = cls()
        setting = command == "set"
        index = 0
        while index < len(options):
            option = options[index].upper()
            has_next = index + 1 < len(options)
            if option == b"NX" and setting and not parsed.only_if_present:
                parsed.only_if_absent = True
            elif option == b"XX" and setting and not parsed.only_if_absent:
                parsed.only_if_present = True
            elif option == b"GET" and setting:
                parsed.want_previous = True
            elif option == b"KEEPTTL" and setting and parsed.expire_kind is None:
                parsed.keep_ttl = True
            elif option == b"PERSIST" and not setting and parsed.expire_kind is None:
                parsed.persist = True
            elif (
                option in _EXPIRE_UNITS
                and has_next
                and not (parsed.keep_ttl or parsed.persist)
                and parsed.expire_kind in (None, option)
            ):
                parsed.expire_kind = option
                parsed.expire_argument = options[index + 1]
                index += 1
            else:
                return SYNTAX_ERROR
            index += 1
        return parsed

    def ttl(self, command: str) -> float | bytes | None:
        """The TTL in seconds the expire option asks for (None: none given; ≤ 0 for an EXAT/PXAT time already
        past), or redis-server's error reply (getExpireMillisecondsOrReply: not an integer, not positive, or
        milliseconds that overflow 64 bits)."""
        if self.expire_kind is None:
            return None
        amount = parse_integer(self.expire_argument)
        if amount is None:
            return NOT_INTEGER
        unit_ms, relative = _EXPIRE_UNITS[self.expire_kind]
        if amount <= 0 or (unit_ms == 1000 and amount > INT64_MAX // 1000):
            return invalid_expire_time(command)
        now = now_ms()
        deadline = amount * unit_ms + (now if relative else 0)
        if deadline > INT64_MAX:
            return invalid_expire_time(command)
        return (deadline - now) / 1000
