"""MemoryPool specs: sizes in bytes, block classes strictly increasing, the arena holds the largest block."""

from __future__ import annotations

import pytest

from memories.errors import ConfigError
from memories.operator.api import parse_memory_pool


def test_sizes_are_bytes_and_shared_by_default() -> None:
    pool = parse_memory_pool({"blockSizes": ["4Ki", "1.5Mi"], "totalSize": "64Mi"})
    assert (pool.block_sizes, pool.total_size, pool.shared) == ((4096, 1572864), 64 * 1024**2, True)


def test_unsorted_block_sizes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^spec\.blockSizes: blockSizes must be .* strictly increasing"):
        parse_memory_pool({"blockSizes": [16384, 4096], "totalSize": "1Gi"})


def test_equal_block_sizes_in_other_units_are_refused() -> None:
    with pytest.raises(ConfigError, match="strictly increasing"):
        parse_memory_pool({"blockSizes": [4096, "4Ki"], "totalSize": "1Gi"})


def test_total_smaller_than_a_block_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^spec\.totalSize: totalSize must be at least the largest block size"):
        parse_memory_pool({"blockSizes": [4096, "64Ki"], "totalSize": "32Ki"})


def test_block_sizes_are_required() -> None:
    with pytest.raises(ConfigError, match=r"^spec\.blockSizes: required"):
        parse_memory_pool({"totalSize": "1Gi"})
