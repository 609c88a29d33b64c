"""Deduplicator on a store of the one-file-per-block layout (directory_store.py): persistence, crash recovery,
corruption detection. New stores are pack stores (test_pack_store.py); a directory that already holds this older
layout keeps opening as it, so every test here starts from such a directory."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError, CorruptDataError
from memories.optimization import Deduplicator
from memories.optimization.dedup.directory_store import DirectoryBlockStore
from memories.optimization.dedup.hashing import HASHERS

BLOCK = 256


@pytest.fixture(autouse=True)
def legacy_layout(tmp_path: Path) -> None:
    """Make ``tmp_path`` a store of the one-file-per-block layout, as a user's existing store is."""
    DirectoryBlockStore(tmp_path, HASHERS["xxhash"]).close()


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def block_files(store: Path) -> list[Path]:
    return sorted(path for path in (store / "blocks").rglob("*") if path.is_file())


async def test_reopened_store_restores_inputs_and_metrics(tmp_path: Path) -> None:
    shared = random_bytes(BLOCK * 4, seed=1)
    first = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path)
    await first.process(shared + random_bytes(3000, seed=2), name="a")
    await first.process(shared + shared, name="b")
    metrics = first.get_metrics()
    first.close()
    second = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path)
    assert second.get_metrics() == metrics
    assert await second.restore("b") == shared + shared
    assert sorted(second.input_ids()) == ["a", "b"]


async def test_blocks_are_content_addressed_in_fan_out_directories(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    recipe = await dedup.process(random_bytes(BLOCK * 2))
    name = recipe.block_ids[0].hex()
    assert (tmp_path / "blocks" / name[:2] / name).read_bytes() == random_bytes(BLOCK * 2)[:BLOCK]


async def test_delete_removes_block_files_unique_to_the_input(tmp_path: Path) -> None:
    shared = random_bytes(BLOCK * 2, seed=1)
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(shared + random_bytes(BLOCK * 3, seed=2), name="deleted")
    await dedup.process(shared, name="kept")
    await dedup.delete("deleted")
    assert len(block_files(tmp_path)) == 2
    dedup.close()
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    assert reopened.get_metrics().unique_blocks == 2
    assert await reopened.restore("kept") == shared


async def test_leftover_temporary_file_from_a_crash_is_cleaned_on_open(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(b"kept", name="kept")
    dedup.close()
    leftover = tmp_path / "tmp" / "abc.partial.tmp"
    leftover.write_bytes(b"half a blo")
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    assert not leftover.exists()
    assert await reopened.restore("kept") == b"kept"


async def test_block_written_before_a_crash_but_never_committed_is_removed(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(b"kept", name="kept")
    dedup.close()
    orphan_id = bytes(range(16))
    orphan = tmp_path / "blocks" / orphan_id.hex()[:2] / orphan_id.hex()
    orphan.write_bytes(b"orphan")
    with sqlite3.connect(tmp_path / "index.sqlite3") as database:
        database.execute("INSERT INTO pending VALUES (?)", (orphan_id,))
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    assert not orphan.exists()
    assert reopened.get_metrics().unique_blocks == 1


async def test_damaged_block_file_raises_corrupt_data_error_naming_the_block(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    recipe = await dedup.process(random_bytes(BLOCK * 3), name="input")
    damaged = block_files(tmp_path)[0]
    content = bytearray(damaged.read_bytes())
    content[10] ^= 0xFF
    damaged.write_bytes(bytes(content))
    with pytest.raises(CorruptDataError, match=damaged.name) as caught:
        await dedup.restore(recipe)
    assert caught.value.location == f"block {damaged.name}"


async def test_missing_block_file_raises_corrupt_data_error(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(random_bytes(BLOCK), name="input")
    block_files(tmp_path)[0].unlink()
    with pytest.raises(CorruptDataError, match="missing"):
        await dedup.restore("input")


async def test_store_refuses_a_different_hash_algorithm(tmp_path: Path) -> None:
    Deduplicator(store_path=tmp_path).close()
    with pytest.raises(ConfigError, match="sha256"):
        Deduplicator(hash_algorithm="sha256", store_path=tmp_path)


async def test_verify_reads_blocks_back_from_disk(tmp_path: Path) -> None:
    data = random_bytes(BLOCK * 2, seed=3)
    dedup = Deduplicator(BLOCK, verify=True, store_path=tmp_path)
    await dedup.process(data, name="first")
    recipe = await dedup.process(data + data, name="second")
    assert recipe.new_blocks == 0
    assert await dedup.restore("second") == data + data


async def test_savings_counters_survive_a_restart(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(random_bytes(BLOCK) * 3)
    dedup.close()
    assert Deduplicator(BLOCK, store_path=tmp_path).get_metrics().duplicate_bytes == 2 * BLOCK


@settings(max_examples=10, deadline=None)
@given(data=st.binary(max_size=3000), chunking=st.sampled_from(["fixed", "cdc"]))
async def test_on_disk_round_trip_survives_reopening(data: bytes, chunking: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        dedup = Deduplicator(BLOCK, chunking=chunking, store_path=directory)
        recipe = await dedup.process(data)
        dedup.close()
        reopened = Deduplicator(BLOCK, chunking=chunking, store_path=directory)
        assert await reopened.restore(recipe.input_id) == data
        reopened.close()
