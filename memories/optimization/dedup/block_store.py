"""Where deduplicated blocks and recipes live: the store interface and its running totals.

A store holds each distinct block once with a reference count (how many times registered
recipes use it, counting repeats), and the recipes by input id. Registering a recipe adds
one reference per occurrence of each of its blocks; removing it drops them, and a block
whose count reaches zero is freed. Stores are not thread-safe: the Deduplicator calls them
one operation at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from memories.errors import CorruptDataError
from memories.optimization.dedup.hashing import BlockData
from memories.optimization.dedup.recipe import DedupRecipe


@dataclass
class StoreTotals:
    """Running totals of a store, in bytes and block counts.

    ``logical_bytes``/``total_blocks`` sum over registered inputs (blocks counted with
    repeats); ``physical_bytes``/``unique_blocks`` are the distinct blocks held.
    ``processed_bytes``/``duplicate_bytes`` accumulate over ``process`` calls with
    ``track_savings=True``, deletions notwithstanding.
    """

    logical_bytes: int = 0
    physical_bytes: int = 0
    total_blocks: int = 0
    unique_blocks: int = 0
    inputs: int = 0
    processed_bytes: int = 0
    duplicate_bytes: int = 0

    def add_recipe(self, recipe: DedupRecipe, sign: int = 1) -> None:
        """Count (``sign=1``) or uncount (``sign=-1``) a registered recipe."""
        self.logical_bytes += sign * recipe.size
        self.total_blocks += sign * recipe.total_blocks
        self.inputs += sign

    def add_block(self, length: int, sign: int = 1) -> None:
        """Count (``sign=1``) or uncount (``sign=-1``) a stored block of ``length`` bytes."""
        self.physical_bytes += sign * length
        self.unique_blocks += sign

    def add_savings(self, recipe: DedupRecipe) -> None:
        """Accumulate a tracked ``process`` call's processed and duplicate bytes."""
        self.processed_bytes += recipe.size
        self.duplicate_bytes += recipe.duplicate_bytes or 0


@dataclass
class NewBlocks:
    """Blocks to add to a store.

    ``contents`` maps id -> content; ``seeds`` holds the seed of ids that are not plain
    seed-0 ids (blocks that collided, see hashing.py). Kept apart from the contents so the
    hot path builds no per-block tuples.
    """

    contents: dict[bytes, BlockData] = field(default_factory=dict)
    seeds: dict[bytes, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """Sum of the new blocks' lengths."""
        return sum(map(len, self.contents.values()))


class BlockStore(ABC):
    """Content-addressed blocks with reference counts, plus recipes by input id."""

    totals: StoreTotals

    @abstractmethod
    def missing(self, block_ids: Iterable[bytes]) -> list[bytes]:
        """Return the ids among ``block_ids`` that the store does not hold."""

    @abstractmethod
    def read(self, block_id: bytes) -> BlockData | None:
        """Return a stored block's content, or None if it is not stored.

        Raises CorruptDataError if a stored block fails verification.
        """

    @abstractmethod
    def recipe(self, input_id: str) -> DedupRecipe | None:
        """Return the recipe registered under ``input_id``, or None."""

    @abstractmethod
    def input_ids(self) -> list[str]:
        """Return the ids of all registered inputs."""

    @abstractmethod
    def commit(self, recipe: DedupRecipe, new_blocks: NewBlocks) -> None:
        """Store ``new_blocks`` and register ``recipe``, replacing a recipe with the same id."""

    @abstractmethod
    def put(self, new_blocks: NewBlocks) -> None:
        """Store ``new_blocks`` without references, for a recipe committed later (streamed inputs).

        Until a recipe that uses them is committed, removing an input never frees them.
        """

    def commit_held(self, recipe: DedupRecipe, new_blocks: NewBlocks, hold_bytes: int) -> None:
        """Like ``commit``, but the store may hold it until ``flush`` (many inputs made durable together).

        A store that holds commits flushes by itself once more than about ``hold_bytes`` (new block bytes plus
        the held inputs' sizes) are held, when ``hold_bytes`` is 0, on other operations and on ``close``; a
        crash loses the held inputs, never a flushed one. This default commits at once.
        """
        self.commit(recipe, new_blocks)

    def put_held(self, new_blocks: NewBlocks, hold_bytes: int) -> None:
        """Like ``put``, held like ``commit_held``. This default stores at once."""
        self.put(new_blocks)

    def flush(self) -> None:  # noqa: B027 - stores that commit at once have nothing to flush
        """Make every held commit durable and visible (one transaction in a pack store)."""

    @abstractmethod
    def remove(self, input_id: str) -> bool:
        """Unregister a recipe and free blocks no longer referenced; False if it was unknown."""

    def assemble(self, recipe: DedupRecipe) -> bytes:
        """Return the concatenated blocks of ``recipe``.

        Raises KeyError if a block is not in the store, CorruptDataError if one is damaged.
        """
        return self.assemble_blocks(recipe, recipe.block_ids)

    @abstractmethod
    def assemble_blocks(self, recipe: DedupRecipe, block_ids: Sequence[bytes]) -> bytes:
        """Return the concatenated blocks ``block_ids`` (a run of ``recipe``'s; errors name ``recipe``).

        Raises KeyError if a block is not in the store, CorruptDataError if one is damaged.
        """

    def check(self) -> list[str]:
        """Read (and, on disk, re-hash) every block every recipe uses; return the problems found."""
        problems: list[str] = []
        for input_id in self.input_ids():
            recipe = self.recipe(input_id)
            assert recipe is not None
            for block_id in dict.fromkeys(recipe.block_ids):
                try:
                    if self.read(block_id) is None:
                        problems.append(f"input {input_id!r}: block {block_id.hex()} is not in the store")
                except CorruptDataError as error:
                    problems.append(f"input {input_id!r}: {error}")
        return problems

    @abstractmethod
    def collect_garbage(self) -> int:
        """Free the blocks no registered recipe uses (left by an interrupted ``put``); return the bytes reclaimed."""

    def close(self) -> None:  # noqa: B027 - stores without resources need no cleanup
        """Release files and connections held by the store."""


def missing_block_error(block_id: bytes, recipe: DedupRecipe) -> KeyError:
    """Return the error for a recipe that names a block the store does not hold."""
    return KeyError(f"block {block_id.hex()} of input {recipe.input_id!r} is not in the store (was the input deleted?)")
