"""Carving an arena into size-class regions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization.pools.size_classes import parse_block_sizes, plan_regions, smallest_fitting_class

PAGE = 4096


def test_block_sizes_are_parsed_and_sorted() -> None:
    assert parse_block_sizes(["64KB", 4096, "16Ki"]) == (4096, 16384, 65536)


def test_shares_weight_the_regions() -> None:
    small, large = plan_regions((4096, 8192), 1024 * 1024, region_shares=[3, 1], page_size=PAGE)
    assert small.length == 3 * 256 * 1024
    assert large.length == 256 * 1024


def test_smallest_fitting_class_returns_index_and_bytes() -> None:
    assert smallest_fitting_class((4096, 16384), "5KB") == (1, 5120)


@pytest.mark.parametrize("size", [0, -5, 16385, True])
def test_smallest_fitting_class_rejects_unfit_sizes(size: int) -> None:
    with pytest.raises(ConfigError):
        smallest_fitting_class((4096, 16384), size)


@settings(max_examples=200, deadline=None)
@given(
    classes=st.lists(st.integers(min_value=1, max_value=70_000), min_size=1, max_size=5, unique=True),
    total=st.integers(min_value=1, max_value=8 * 1024 * 1024),
    shares=st.lists(st.floats(min_value=0.01, max_value=100), min_size=5, max_size=5),
)
def test_regions_are_page_aligned_disjoint_and_inside_the_arena(
    classes: list[int], total: int, shares: list[float]
) -> None:
    ordered = tuple(sorted(classes))
    try:
        regions = plan_regions(ordered, total, shares[: len(ordered)], page_size=PAGE)
    except ConfigError:
        return  # too small for some class: refusing is the documented outcome
    assert [region.size_class for region in regions] == list(ordered)
    end = 0
    for region in regions:
        assert region.offset % PAGE == 0
        assert region.offset >= end
        assert region.block_count >= 1
        end = region.offset + region.length
    assert end <= total
