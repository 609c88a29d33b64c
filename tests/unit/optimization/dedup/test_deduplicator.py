"""Deduplicator with the in-memory store: round trips, metrics, references, inputs, errors."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization import Deduplicator, DedupMetrics, DedupRecipe
from memories.optimization.dedup import hashing
from memories.optimization.dedup.directory_store import DirectoryBlockStore
from memories.optimization.dedup.hashing import HASHERS

BLOCK = 256


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def blocks_of(data: bytes) -> list[bytes]:
    return [data[start : start + BLOCK] for start in range(0, len(data), BLOCK)]


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=5000), chunking=st.sampled_from(["fixed", "cdc"]), verify=st.booleans())
async def test_restore_returns_exactly_the_processed_bytes(data: bytes, chunking: str, verify: bool) -> None:
    dedup = Deduplicator(BLOCK, chunking=chunking, verify=verify)
    recipe = await dedup.process(data)
    assert await dedup.restore(recipe) == data
    assert await dedup.restore(recipe.input_id) == data


@settings(max_examples=15, deadline=None)
@given(size=st.integers(0, 200_000), seed=st.integers(0, 1000), chunking=st.sampled_from(["fixed", "cdc"]))
async def test_restore_of_random_sizes_round_trips(size: int, seed: int, chunking: str) -> None:
    data = random_bytes(size, seed)
    dedup = Deduplicator("1KB", chunking=chunking)
    await dedup.process(data, name="input")
    assert await dedup.restore("input") == data


async def test_input_id_defaults_to_the_xxh3_128_of_the_input() -> None:
    recipe = await Deduplicator().process(b"hello")
    assert recipe.input_id == xxhash.xxh3_128_hexdigest(b"hello")


async def test_metrics_match_an_independent_count_across_inputs() -> None:
    shared = random_bytes(BLOCK * 8, seed=1)
    first = shared + random_bytes(BLOCK * 3 + 17, seed=2)
    second = random_bytes(BLOCK * 2, seed=3) + shared + shared
    dedup = Deduplicator(BLOCK)
    await dedup.process(first, name="first")
    await dedup.process(second, name="second")
    all_blocks = blocks_of(first) + blocks_of(second)
    distinct = set(all_blocks)
    metrics = dedup.get_metrics()
    assert metrics.logical_bytes == len(first) + len(second)
    assert metrics.physical_bytes == sum(len(block) for block in distinct)
    assert metrics.total_blocks == len(all_blocks)
    assert metrics.unique_blocks == len(distinct)
    assert metrics.inputs == 2
    assert metrics.dedup_ratio == pytest.approx(metrics.logical_bytes / metrics.physical_bytes)
    assert metrics.space_saved_gb == pytest.approx((metrics.logical_bytes - metrics.physical_bytes) / 1024**3)


async def test_recipe_reports_the_bytes_each_call_added() -> None:
    data = random_bytes(BLOCK * 4, seed=4)
    dedup = Deduplicator(BLOCK)
    first = await dedup.process(data, name="a")
    second = await dedup.process(data + data, name="b")
    assert (first.new_bytes, first.new_blocks) == (len(data), 4)
    assert (second.new_bytes, second.duplicate_bytes) == (0, 2 * len(data))
    assert dedup.get_metrics().duplicate_bytes == 2 * len(data)


async def test_untracked_process_leaves_savings_counters_alone() -> None:
    dedup = Deduplicator(BLOCK)
    recipe = await dedup.process(random_bytes(1000), track_savings=False)
    assert recipe.new_bytes is None
    assert dedup.get_metrics().processed_bytes == 0
    assert dedup.get_metrics().logical_bytes == 1000


def test_empty_store_has_ratio_one_and_nothing_saved() -> None:
    metrics = Deduplicator().get_metrics()
    assert (metrics.dedup_ratio, metrics.space_saved_gb, metrics.unique_blocks) == (1.0, 0.0, 0)


async def test_delete_frees_only_blocks_unique_to_the_input() -> None:
    shared, own = random_bytes(BLOCK * 3, seed=5), random_bytes(BLOCK * 2, seed=6)
    dedup = Deduplicator(BLOCK)
    await dedup.process(shared + own, name="deleted")
    await dedup.process(shared, name="kept")
    await dedup.delete("deleted")
    metrics = dedup.get_metrics()
    assert (metrics.unique_blocks, metrics.physical_bytes, metrics.inputs) == (3, len(shared), 1)
    assert await dedup.restore("kept") == shared
    with pytest.raises(KeyError, match="deleted"):
        await dedup.restore("deleted")


async def test_deleting_every_input_empties_the_store() -> None:
    dedup = Deduplicator(BLOCK, chunking="cdc")
    for index in range(3):
        await dedup.process(random_bytes(5000, seed=index % 2), name=str(index))
    for index in range(3):
        await dedup.delete(str(index))
    assert dedup.get_metrics() == DedupMetrics(0, 0, 0, 0, 0, 15000, 5000)


async def test_processing_the_same_name_again_replaces_the_input() -> None:
    dedup = Deduplicator(BLOCK)
    await dedup.process(random_bytes(BLOCK * 4, seed=1), name="x")
    await dedup.process(b"new content", name="x")
    assert await dedup.restore("x") == b"new content"
    assert (dedup.get_metrics().unique_blocks, dedup.get_metrics().inputs) == (1, 1)


async def test_reprocessing_identical_input_does_not_change_the_store() -> None:
    data = random_bytes(BLOCK * 5, seed=2)
    dedup = Deduplicator(BLOCK)
    await dedup.process(data)
    before = dedup.get_metrics()
    await dedup.process(data)
    after = dedup.get_metrics()
    assert (after.logical_bytes, after.physical_bytes, after.inputs) == (
        before.logical_bytes,
        before.physical_bytes,
        before.inputs,
    )


async def test_delete_of_an_unknown_input_raises_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        await Deduplicator().delete("nope")


async def test_numpy_arrays_paths_and_files_are_accepted(tmp_path: Path) -> None:
    array = np.arange(3000, dtype=np.float64).reshape(30, 100)[:, ::2]
    path = tmp_path / "input.bin"
    path.write_bytes(b"from a file")
    dedup = Deduplicator(BLOCK)
    assert await dedup.restore(await dedup.process(array)) == np.ascontiguousarray(array).tobytes()
    assert await dedup.restore(await dedup.process(path)) == b"from a file"
    assert await dedup.restore(await dedup.process(str(path))) == b"from a file"
    assert await dedup.restore(await dedup.process(io.BytesIO(b"stream"))) == b"stream"


async def test_unsupported_data_raises_type_error() -> None:
    with pytest.raises(TypeError, match="expected bytes-like"):
        await Deduplicator().process(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"block_size": "4XB"}, "block_size"),
        ({"block_size": 0}, "block_size"),
        ({"block_size": 32}, "64 bytes"),
        ({"block_size": "1GB"}, "16MB"),
        ({"block_size": 128, "chunking": "cdc"}, "at least 256"),
        ({"hash_algorithm": "md5"}, "hash_algorithm"),
        ({"chunking": "rabin"}, "chunking"),
        ({"verify": "yes"}, "verify"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_field(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Deduplicator(**arguments)  # type: ignore[arg-type]


async def test_restoring_a_recipe_of_another_algorithm_raises_config_error() -> None:
    recipe = await Deduplicator(hash_algorithm="sha256").process(b"data")
    with pytest.raises(ConfigError, match="sha256"):
        await Deduplicator().restore(recipe)


@pytest.mark.parametrize("algorithm", ["xxhash", "blake2b", "sha256"])
async def test_every_hash_algorithm_deduplicates(algorithm: str) -> None:
    dedup = Deduplicator(BLOCK, algorithm)
    block = random_bytes(BLOCK)
    recipe = await dedup.process(block * 4)
    assert len(recipe.block_ids[0]) == hashing.HASHERS[algorithm].digest_size
    assert dedup.get_metrics().unique_blocks == 1


def constant_for_seed_zero(real: hashing.BlockHasher) -> hashing.BlockHasher:
    """A hasher whose seed-0 ids all collide, as if XXH3 were broken."""

    def digest(data: hashing.BlockData, seed: int) -> bytes:
        return b"\0" * 16 if seed == 0 else real.digest(data, seed)

    return hashing.BlockHasher("xxhash", 16, digest, lambda data: digest(data, 0))


async def test_verify_stores_colliding_blocks_separately(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(hashing.HASHERS, "xxhash", constant_for_seed_zero(hashing.HASHERS["xxhash"]))
    dedup = Deduplicator(BLOCK, verify=True)
    first, second = random_bytes(BLOCK, seed=1), random_bytes(BLOCK, seed=2)
    recipe = await dedup.process(first + second + first)
    assert await dedup.restore(recipe) == first + second + first
    assert dedup.get_metrics().unique_blocks == 2


async def test_without_verify_a_collision_silently_merges_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(hashing.HASHERS, "xxhash", constant_for_seed_zero(hashing.HASHERS["xxhash"]))
    dedup = Deduplicator(BLOCK)
    first, second = random_bytes(BLOCK, seed=1), random_bytes(BLOCK, seed=2)
    assert await dedup.restore(await dedup.process(first + second)) == first + first


async def test_event_loop_stays_responsive_while_processing() -> None:
    dedup = Deduplicator("4KB", chunking="cdc")
    data = random_bytes(64 * 1024 * 1024)  # large enough to take well over 15 ms with the compiled chunker
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await dedup.process(data)
    task.cancel()
    assert ticks >= 3


async def test_recipe_from_bytes_restores_like_the_original() -> None:
    dedup = Deduplicator(BLOCK, chunking="cdc")
    data = random_bytes(20_000)
    recipe = await dedup.process(data)
    assert await dedup.restore(DedupRecipe.from_bytes(recipe.to_bytes())) == data


async def test_restoring_the_recipe_of_a_deleted_input_names_the_missing_block() -> None:
    dedup = Deduplicator(BLOCK)
    recipe = await dedup.process(random_bytes(BLOCK * 2), name="gone")
    await dedup.delete("gone")
    with pytest.raises(KeyError, match="not in the store"):
        await dedup.restore(recipe)


async def test_empty_name_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="name"):
        await Deduplicator().process(b"data", name="")


async def test_concurrent_processing_of_overlapping_inputs_stays_consistent() -> None:
    shared = random_bytes(BLOCK * 16, seed=20)
    inputs = [shared + random_bytes(BLOCK * 4, seed=index) for index in range(6)]
    dedup = Deduplicator(BLOCK)
    await asyncio.gather(*(dedup.process(data, name=str(index)) for index, data in enumerate(inputs)))
    distinct = {block for data in inputs for block in blocks_of(data)}
    assert dedup.get_metrics().unique_blocks == len(distinct)
    restored = await asyncio.gather(*(dedup.restore(str(index)) for index in range(6)))
    assert restored == inputs


@pytest.mark.parametrize("layout", ["memory", "one file per block"])
async def test_a_batch_on_a_store_without_held_commits_registers_each_input_at_once(
    layout: str, tmp_path: Path
) -> None:
    if layout == "memory":
        dedup = Deduplicator(1024, chunking="cdc")
    else:
        DirectoryBlockStore(tmp_path, HASHERS["xxhash"]).close()
        dedup = Deduplicator(1024, chunking="cdc", store_path=tmp_path)
    (tmp_path / "file").write_bytes(b"x" * 5000)
    async with dedup.batch("1KB") as batch:
        await batch.ingest(tmp_path / "file", name="a")
        assert dedup.input_ids() == ["a"]
        (recipe,) = await batch.ingest_files([(tmp_path / "file", "b")])
        assert recipe.new_bytes == 0 and dedup.input_ids() == ["a", "b"]
    written = await dedup.restore_files([("a", tmp_path / "out" / "a")])
    assert written == 5000 and (tmp_path / "out" / "a").read_bytes() == b"x" * 5000
    with pytest.raises(ConfigError, match="checkpoint_bytes"):
        dedup.batch(0)
    dedup.close()
