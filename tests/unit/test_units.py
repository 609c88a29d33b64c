"""Sizes and durations are parsed the same way wherever the seed accepts them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64MB", 64 * 1024**2),
        ("64Mi", 64 * 1024**2),
        ("64MiB", 64 * 1024**2),
        ("4KB", 4096),
        ("1GB", 1024**3),
        ("10GB", 10 * 1024**3),
        ("512", 512),
        ("0.5KB", 512),
        (4096, 4096),
    ],
)
def test_parse_size_accepts_seed_units(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["64XB", "-1", "1.5", "", "MB", "1 2MB", True, 1.5, None, -4])
def test_parse_size_rejects_with_value_error_naming_field(bad: object) -> None:
    with pytest.raises(ValueError, match="l1_size") as caught:
        parse_size(bad, field="l1_size")  # type: ignore[arg-type]
    assert isinstance(caught.value, ConfigError)


def test_parse_size_can_forbid_zero() -> None:
    with pytest.raises(ConfigError, match="> 0"):
        parse_size("0MB", allow_zero=False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600.0), ("1s", 1.0), ("250ms", 0.25), ("1h30m", 5400.0), ("2d", 172800.0), ("15", 15.0), (3, 3.0)],
)
def test_parse_duration_accepts_units(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["1x", "h", "-1s", "", float("nan"), -1, "1h-", None])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        parse_duration(bad, field="ttl")  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**50), st.sampled_from(["", "B", "KB", "Ki", "MB", "Mi", "GB", "Gi"]))
def test_parse_size_multiplies_by_1024_powers(number: int, unit: str) -> None:
    power = {"": 0, "B": 0, "KB": 1, "Ki": 1, "MB": 2, "Mi": 2, "GB": 3, "Gi": 3}[unit]
    assert parse_size(f"{number}{unit}") == number * 1024**power


def test_format_size_is_readable() -> None:
    assert format_size(64 * 1024**2) == "64.0 MiB"
    assert format_size(12) == "12 B"
