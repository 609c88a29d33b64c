"""Parsing of human-friendly sizes and durations.

Sizes: an ``int`` is bytes; strings such as ``"64MB"``, ``"4KB"``, ``"1GB"``, ``"64Mi"``,
``"64MiB"`` or ``"512"`` are accepted. KB/MB/GB/TB and Ki/Mi/Gi/Ti are all 1024-based
(as the seed documentation uses them); ``B`` or no suffix means bytes.

Durations: an ``int``/``float`` is seconds; strings such as ``"1h"``, ``"30m"``, ``"1s"``,
``"250ms"``, ``"1h30m"`` are accepted.

Anything else raises :class:`memories.errors.ConfigError` (a ``ValueError``) naming the
field and the value.
"""

from __future__ import annotations

import math
import re

from memories.errors import ConfigError

_SIZE_MULTIPLIERS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "ki": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_PATTERN = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")

Size = int | str
Duration = int | float | str


def parse_size(value: Size, *, field: str = "size", allow_zero: bool = True) -> int:
    """Return ``value`` as a whole number of bytes.

    Raises ConfigError for negative numbers, unknown units, fractions of a byte,
    booleans, or any other type.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{field}: expected bytes as an int or a size like '64MB', got {value!r}")
    if isinstance(value, int):
        number_of_bytes = value
    else:
        match = _SIZE_PATTERN.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _SIZE_MULTIPLIERS:
            raise ConfigError(
                f"{field}: cannot parse size {value!r}; use bytes or a number with "
                "B, KB, MB, GB, TB (1024-based) or Ki, Mi, Gi, Ti"
            )
        scaled = float(match.group(1)) * _SIZE_MULTIPLIERS[unit]
        if scaled != math.floor(scaled):
            raise ConfigError(f"{field}: size {value!r} is not a whole number of bytes")
        number_of_bytes = int(scaled)
    if number_of_bytes < 0 or (number_of_bytes == 0 and not allow_zero):
        raise ConfigError(f"{field}: size must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number_of_bytes


def parse_duration(value: Duration, *, field: str = "duration", allow_zero: bool = True) -> float:
    """Return ``value`` as seconds (a float).

    Raises ConfigError for negative, non-finite or unparseable values.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{field}: expected seconds as a number or a duration like '1h', got {value!r}")
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION_PATTERN.match(text):
            seconds = sum(float(n) * _DURATION_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ConfigError(
                f"{field}: cannot parse duration {value!r}; use seconds or units ms, s, m, h, d (e.g. '1h30m')"
            )
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(f"{field}: duration must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return seconds


def format_size(number_of_bytes: int) -> str:
    """Render bytes with the largest 1024-based unit that keeps the number >= 1 (e.g. '64.0 MiB')."""
    value = float(number_of_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} TiB"
