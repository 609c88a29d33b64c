"""DedupRecipe binary form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memories.errors import CorruptDataError
from memories.optimization.dedup.recipe import DedupRecipe

recipes = st.builds(
    DedupRecipe,
    input_id=st.text(min_size=1, max_size=40),
    size=st.integers(0, 2**40),
    hash_algorithm=st.sampled_from(["xxhash", "blake2b", "sha256"]),
    chunking=st.sampled_from(["fixed", "cdc"]),
    block_size=st.integers(64, 2**24),
    block_ids=st.lists(st.binary(min_size=16, max_size=16), max_size=20).map(tuple),
)


@given(recipes)
def test_recipe_round_trips_through_bytes(recipe: DedupRecipe) -> None:
    assert DedupRecipe.from_bytes(recipe.to_bytes()) == recipe


def sample_recipe() -> DedupRecipe:
    return DedupRecipe("input", 8192, "xxhash", "fixed", 4096, (b"a" * 16, b"b" * 16))


@given(position=st.integers(0, 100), flip=st.integers(1, 255))
def test_recipe_with_any_changed_byte_is_rejected(position: int, flip: int) -> None:
    damaged = bytearray(sample_recipe().to_bytes())
    damaged[position % len(damaged)] ^= flip
    with pytest.raises(CorruptDataError, match="recipe"):
        DedupRecipe.from_bytes(damaged)


def test_truncated_recipe_is_rejected() -> None:
    with pytest.raises(CorruptDataError, match="recipe"):
        DedupRecipe.from_bytes(sample_recipe().to_bytes()[:-3])


def test_savings_are_not_part_of_equality_or_serialization() -> None:
    tracked = DedupRecipe("input", 8192, "xxhash", "fixed", 4096, (b"a" * 16,), new_bytes=4096, new_blocks=1)
    restored = DedupRecipe.from_bytes(tracked.to_bytes())
    assert restored == tracked
    assert restored.new_bytes is None
    assert tracked.duplicate_bytes == 4096
