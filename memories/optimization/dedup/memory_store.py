"""The in-memory block store: blocks packed into numpy arenas, recipes in a dict.

Why arenas: copying each new 4 KiB block into its own ``bytes`` object costs a malloc and
fresh-page faults per block, about a third of the whole ``process`` time at 4 KiB blocks.
Instead, the new blocks of one ``commit`` are copied into a single numpy array (one large
allocation, backed by transparent huge pages where the kernel allows) and each block is a
read-only memoryview slice of it. An arena's memory is returned when its last block is
freed. Deleting inputs can leave arenas partly live, so when the arenas hold more than
twice the live block bytes (plus ``COMPACTION_SLACK_BYTES``), the live blocks are copied
into a fresh arena and the old ones released: memory stays within about 2x
``physical_bytes``.
"""

from __future__ import annotations

import itertools
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from memories.optimization.dedup.block_store import BlockStore, NewBlocks, StoreTotals, missing_block_error
from memories.optimization.dedup.hashing import BlockData
from memories.optimization.dedup.recipe import DedupRecipe

COMPACTION_SLACK_BYTES = 64 * 1024**2


def _subtract(counter: list[int], amount: int) -> None:
    counter[0] -= amount


class MemoryBlockStore(BlockStore):
    """Blocks and recipes in process memory; gone when the process exits."""

    def __init__(self) -> None:
        self.totals = StoreTotals()
        self._blocks: dict[bytes, memoryview] = {}
        self._references: dict[bytes, int] = {}
        self._recipes: dict[str, DedupRecipe] = {}
        self._arena_bytes = [0]

    @property
    def arena_bytes(self) -> int:
        """Bytes held by live arenas (what the blocks really occupy, free gaps included)."""
        return self._arena_bytes[0]

    def _pack(self, contents: Iterable[BlockData], total_bytes: int) -> list[memoryview]:
        """Copy ``contents`` into one new arena and return a read-only view of each."""
        arena = np.empty(total_bytes, dtype=np.uint8)
        writable = arena.data
        bounds: list[int] = [0]
        position = 0
        for content in contents:
            end = position + len(content)
            writable[position:end] = content
            bounds.append(end)
            position = end
        arena.flags.writeable = False
        readonly = arena.data
        views = [readonly[start:end] for start, end in itertools.pairwise(bounds)]
        self._arena_bytes[0] += total_bytes
        weakref.finalize(arena, _subtract, self._arena_bytes, total_bytes)
        return views

    def missing(self, block_ids: Iterable[bytes]) -> list[bytes]:
        blocks = self._blocks
        return [block_id for block_id in block_ids if block_id not in blocks]

    def read(self, block_id: bytes) -> BlockData | None:
        return self._blocks.get(block_id)

    def recipe(self, input_id: str) -> DedupRecipe | None:
        return self._recipes.get(input_id)

    def input_ids(self) -> list[str]:
        return list(self._recipes)

    def put(self, new_blocks: NewBlocks) -> None:
        new_bytes = new_blocks.total_bytes
        self._blocks.update(zip(new_blocks.contents, self._pack(new_blocks.contents.values(), new_bytes), strict=True))
        self.totals.physical_bytes += new_bytes
        self.totals.unique_blocks += len(new_blocks.contents)

    def commit(self, recipe: DedupRecipe, new_blocks: NewBlocks) -> None:
        self.put(new_blocks)
        references = self._references
        for block_id, count in Counter(recipe.block_ids).items():
            references[block_id] = references.get(block_id, 0) + count
        self.remove(recipe.input_id)
        self._recipes[recipe.input_id] = recipe
        self.totals.add_recipe(recipe)
        if recipe.new_bytes is not None:
            self.totals.add_savings(recipe)

    def remove(self, input_id: str) -> bool:
        recipe = self._recipes.pop(input_id, None)
        if recipe is None:
            return False
        self.totals.add_recipe(recipe, sign=-1)
        for block_id, count in Counter(recipe.block_ids).items():
            remaining = self._references[block_id] - count
            if remaining:
                self._references[block_id] = remaining
            else:
                del self._references[block_id]
                self.totals.add_block(len(self._blocks.pop(block_id)), sign=-1)
        if self.arena_bytes > 2 * self.totals.physical_bytes + COMPACTION_SLACK_BYTES:
            self.compact()
        return True

    def collect_garbage(self) -> int:
        unreferenced = [block_id for block_id in self._blocks if block_id not in self._references]
        reclaimed = 0
        for block_id in unreferenced:
            length = len(self._blocks.pop(block_id))
            self.totals.add_block(length, sign=-1)
            reclaimed += length
        if self.arena_bytes > 2 * self.totals.physical_bytes + COMPACTION_SLACK_BYTES:
            self.compact()
        return reclaimed

    def compact(self) -> None:
        """Copy the live blocks into one fresh arena, releasing the old, partly free ones."""
        views = self._pack(self._blocks.values(), self.totals.physical_bytes)
        self._blocks = dict(zip(self._blocks, views, strict=True))

    def assemble_blocks(self, recipe: DedupRecipe, block_ids: Sequence[bytes]) -> bytes:
        blocks = self._blocks
        try:
            return b"".join([blocks[block_id] for block_id in block_ids])
        except KeyError as error:
            raise missing_block_error(error.args[0], recipe) from None
