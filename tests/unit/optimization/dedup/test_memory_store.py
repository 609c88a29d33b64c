"""In-memory store arenas: memory is returned after deletions."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from memories.optimization.dedup import memory_store
from memories.optimization.dedup.block_store import NewBlocks
from memories.optimization.dedup.memory_store import MemoryBlockStore
from memories.optimization.dedup.recipe import DedupRecipe


def commit_blocks(store: MemoryBlockStore, name: str, blocks: list[bytes]) -> None:
    ids = tuple(f"{name}-{index}".encode().ljust(16, b"\0") for index in range(len(blocks)))
    recipe = DedupRecipe(name, sum(map(len, blocks)), "xxhash", "fixed", 256, ids)
    store.commit(recipe, NewBlocks(dict(zip(ids, blocks, strict=True))))


def test_arena_memory_is_released_when_all_its_blocks_are_deleted() -> None:
    store = MemoryBlockStore()
    commit_blocks(store, "a", [bytes([index]) * 256 for index in range(8)])
    assert store.arena_bytes == 2048
    store.remove("a")
    gc.collect()
    assert store.arena_bytes == 0


def test_partly_freed_arenas_are_compacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_store, "COMPACTION_SLACK_BYTES", 0)
    store = MemoryBlockStore()
    blocks = [np.full(256, index, dtype=np.uint8).tobytes() for index in range(8)]
    commit_blocks(store, "kept", blocks[:1])
    commit_blocks(store, "big", blocks[1:])
    store.remove("big")
    gc.collect()
    assert store.arena_bytes <= 2 * store.totals.physical_bytes
    kept = store.recipe("kept")
    assert kept is not None
    assert store.assemble(kept) == blocks[0]
