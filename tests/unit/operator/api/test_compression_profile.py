"""CompressionProfile specs: defaults, the codec rules the API server checks, errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from memories.errors import ConfigError
from memories.operator.api import parse_compression_profile


def test_defaults() -> None:
    profile = parse_compression_profile({})
    assert (profile.algorithm, profile.chunk_size, profile.dedup.enabled) == ("lz4", 4 * 1024**2, False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"algorithm": "lz4", "lossy": {"quality": 80}}, "spec.lossy: lossy settings require algorithm jpeg2000"),
        ({"algorithm": "lz4", "level": 17}, "spec.level: lz4 levels are 0 to 16"),
        ({"algorithm": "zstd", "level": 23}, "spec.level: zstd levels are 1 to 22"),
        ({"algorithm": "jpeg2000", "level": 1}, "spec.level: jpeg2000 has no level"),
        ({"algorithm": "jpeg2000", "lossy": {}}, "spec.lossy: lossy needs quality (0-100) or targetSize"),
        ({"algorithm": "jpeg2000", "lossy": {"quality": 101}}, "spec.lossy.quality: must be between 0 and 100"),
        ({"level": True}, "spec.level: expected an integer, got True"),
        ({"dedup": {"chunking": "rolling"}}, "spec.dedup.chunking: expected one of fixed, cdc"),
    ],
)
def test_errors_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_compression_profile(spec)
    assert str(raised.value).startswith(message)


def test_zstd_fast_levels_are_accepted() -> None:
    assert parse_compression_profile({"algorithm": "zstd", "level": -5}).level == -5
