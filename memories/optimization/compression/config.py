"""Validated settings of a lossless :class:`~memories.optimization.compression.MemoryCompressor`.

Parsed once, at the edge: every other module of the package receives a
:class:`LosslessSettings` and never re-checks raw arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from memories.errors import ConfigError
from memories.units import Size, parse_size

LOSSLESS_ALGORITHMS = ("lz4", "zstd")
ALGORITHMS = (*LOSSLESS_ALGORITHMS, "jpeg2000")

LZ4_LEVELS = range(0, 17)
"""lz4 levels: 0–2 are the fast compressor, 3–16 are LZ4 HC (high compression)."""

ZSTD_MIN_LEVEL = -(1 << 17)
ZSTD_MAX_LEVEL = 22
DEFAULT_LEVELS = {"lz4": 0, "zstd": 3}

MAX_CHUNK_SIZE = 1 << 31
"""Largest chunk accepted (2 GiB): a chunk is compressed in one call and held in memory."""


@dataclass(frozen=True)
class LosslessSettings:
    """Algorithm, level, chunk size (bytes) and worker-thread count of a lossless compressor."""

    algorithm: str
    level: int
    chunk_size: int
    workers: int


def default_workers() -> int:
    """Return the number of CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def validate_algorithm(algorithm: object) -> str:
    """Return ``algorithm`` if it is one of :data:`ALGORITHMS`, else raise ConfigError."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    return algorithm


def validate_level(algorithm: str, level: object) -> int:
    """Return the effective level for ``algorithm`` (``None`` means its default); raise ConfigError if invalid."""
    if level is None:
        return DEFAULT_LEVELS[algorithm]
    if isinstance(level, bool) or not isinstance(level, int):
        raise ConfigError(f"level: expected an int, got {level!r}")
    if algorithm == "lz4" and level not in LZ4_LEVELS:
        raise ConfigError(f"level: lz4 accepts 0–16 (3 and above is LZ4 HC), got {level}")
    if algorithm == "zstd" and not (ZSTD_MIN_LEVEL <= level <= ZSTD_MAX_LEVEL and level != 0):
        raise ConfigError(f"level: zstd accepts 1–22 or a negative fast level down to {ZSTD_MIN_LEVEL}, got {level}")
    return level


def validate_workers(workers: object) -> int:
    """Return the worker-thread count (``None`` means one per usable CPU); raise ConfigError if not a positive int."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: expected a positive int, got {workers!r}")
    return workers


def lossless_settings(algorithm: str, level: object, chunk_size: Size, workers: object) -> LosslessSettings:
    """Validate the lossless arguments of MemoryCompressor; raise ConfigError naming the bad field."""
    size = parse_size(chunk_size, field="chunk_size", allow_zero=False)
    if size > MAX_CHUNK_SIZE:
        raise ConfigError(f"chunk_size: at most 2GB per chunk, got {chunk_size!r}")
    return LosslessSettings(
        algorithm=algorithm,
        level=validate_level(algorithm, level),
        chunk_size=size,
        workers=validate_workers(workers),
    )
