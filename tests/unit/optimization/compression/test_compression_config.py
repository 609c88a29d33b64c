"""Validation of MemoryCompressor arguments: every invalid value is a ConfigError naming its field."""

from __future__ import annotations

import pytest

from memories.errors import ConfigError
from memories.optimization.compression import MemoryCompressor


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"algorithm": "gzip"}, "algorithm"),
        ({"algorithm": 3}, "algorithm"),
        ({"algorithm": "lz4", "level": 17}, "level"),
        ({"algorithm": "lz4", "level": -1}, "level"),
        ({"algorithm": "lz4", "level": 2.5}, "level"),
        ({"algorithm": "lz4", "level": True}, "level"),
        ({"algorithm": "zstd", "level": 23}, "level"),
        ({"algorithm": "zstd", "level": 0}, "level"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": "12 parsecs"}, "chunk_size"),
        ({"chunk_size": "3GB"}, "chunk_size"),
        ({"workers": 0}, "workers"),
        ({"algorithm": "lz4", "quality": 50}, "quality"),
        ({"algorithm": "zstd", "target_size": "1MB"}, "target_size"),
        ({"algorithm": "jpeg2000", "level": 3}, "level"),
    ],
)
def test_invalid_argument_names_its_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}"):
        MemoryCompressor(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(("algorithm", "level"), [("lz4", 0), ("zstd", 3)])
def test_default_level_per_algorithm(algorithm: str, level: int) -> None:
    assert MemoryCompressor(algorithm).level == level


@pytest.mark.parametrize(("chunk_size", "expected"), [("64MB", 64 << 20), ("4Mi", 4 << 20), (4096, 4096)])
def test_chunk_size_accepts_sizes_and_bytes(chunk_size: object, expected: int) -> None:
    assert MemoryCompressor(chunk_size=chunk_size).chunk_size == expected  # type: ignore[arg-type]


def test_zstd_negative_fast_levels_are_accepted() -> None:
    assert MemoryCompressor("zstd", -7).level == -7
