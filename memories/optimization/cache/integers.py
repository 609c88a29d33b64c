"""Integers as Redis reads them from strings (INCR's operand, integer arguments)."""

from __future__ import annotations

import re

_INTEGER_PATTERN = re.compile(rb"0|-?[1-9][0-9]{0,18}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def parse_integer(text: bytes) -> int | None:
    """The signed 64-bit integer ``text`` spells in canonical decimal (no sign, spaces or leading zeros tricks),
    else None."""
    if _INTEGER_PATTERN.fullmatch(text):
        number = int(text)
        if INT64_MIN <= number <= INT64_MAX:
            return number
    return None
