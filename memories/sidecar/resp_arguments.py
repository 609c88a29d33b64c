"""Arguments of RESP commands: strict integers and the options of SET."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from memories.sidecar.resp_protocol import encode_error

SYNTAX_ERROR = b"-ERR syntax error\r\n"
NOT_INTEGER = b"-ERR value is not an integer or out of range\r\n"
_INTEGER_PATTERN = re.compile(rb"-?(?:0|[1-9][0-9]{0,18})")


def parse_integer(argument: bytes) -> int | None:
    """The integer Redis would accept (no sign, spaces or leading zeros tricks), else None."""
    return int(argument) if _INTEGER_PATTERN.fullmatch(argument) else None


@dataclass
class SetOptions:
    """The options of ``SET key value [EX s|PX ms|EXAT t|PXAT t] [NX|XX] [KEEPTTL] [GET]``; ``ttl`` in seconds."""

    ttl: float | None = None
    only_if_absent: bool = False
    only_if_present: bool = False
    keep_ttl: bool = False
    want_previous: bool = False

    @property
    def need_previous(self) -> bool:
        return self.only_if_absent or self.only_if_present or self.want_previous

    @classmethod
    def parse(cls, options: list[bytes]) -> SetOptions | bytes:
        """The options after ``SET key value``, or the encoded error reply."""
        parsed = cls()
        index = 0
        expiry_given = False
        while index < len(options):
            option = options[index].upper()
            if option in (b"EX", b"PX", b"EXAT", b"PXAT"):
                if expiry_given or index + 1 >= len(options):
                    return SYNTAX_ERROR
                amount = parse_integer(options[index + 1])
                if amount is None:
                    return NOT_INTEGER
                seconds = float(amount) if option in (b"EX", b"EXAT") else amount / 1000
                if option in (b"EXAT", b"PXAT"):
                    seconds -= time.time()
                if amount <= 0 or seconds <= 0:
                    return encode_error("ERR invalid expire time in 'set' command")
                parsed.ttl = seconds
                expiry_given = True
                index += 2
                continue
            if option == b"NX":
                parsed.only_if_absent = True
            elif option == b"XX":
                parsed.only_if_present = True
            elif option == b"KEEPTTL":
                parsed.keep_ttl = True
            elif option == b"GET":
                parsed.want_previous = True
            else:
                return SYNTAX_ERROR
            index += 1
        if (parsed.only_if_absent and parsed.only_if_present) or (parsed.keep_ttl and expiry_given):
            return SYNTAX_ERROR
        return parsed
