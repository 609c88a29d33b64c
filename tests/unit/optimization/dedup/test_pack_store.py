"""The pack store (pack_store.py): persistence, garbage collection, recovery from torn packs and from kill -9."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from memories.errors import ConfigError, CorruptDataError
from memories.optimization import Deduplicator
from memories.optimization.dedup import pack_store, streams
from memories.optimization.dedup.directory_store import DirectoryBlockStore
from memories.optimization.dedup.hashing import HASHERS

BLOCK = 1024


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


async def pieces_of(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 7000):
        yield data[start : start + 7000]
    if not data:
        yield b""


def pack_files(store: Path) -> list[Path]:
    return sorted((store / "packs").glob("*.pack"))


async def test_a_new_store_keeps_blocks_in_packs_and_reopens(tmp_path: Path) -> None:
    shared = random_bytes(40_000, seed=1)
    dedup = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path)
    await dedup.process(shared + random_bytes(5000, seed=2), name="a")
    await dedup.process(shared + shared, name="b")
    metrics = dedup.get_metrics()
    dedup.close()
    assert len(pack_files(tmp_path)) == 1 and not (tmp_path / "blocks").exists()
    reopened = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path)
    assert reopened.get_metrics() == metrics
    assert await reopened.restore("b") == shared + shared
    assert await reopened.check() == []
    with pytest.raises(ConfigError, match="sha256"):
        Deduplicator(hash_algorithm="sha256", store_path=tmp_path)


async def test_garbage_collection_drops_deleted_and_unreferenced_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack_store, "PACK_BYTES", 100_000)  # several packs
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    kept, dropped = random_bytes(150_000, seed=1), random_bytes(300_000, seed=2)
    await dedup.process(kept, name="kept")
    await dedup.process(dropped, name="dropped")
    await dedup.delete("dropped")
    assert dedup.get_metrics().physical_bytes == len(kept)  # freed in the index at once
    before = sum(path.stat().st_size for path in pack_files(tmp_path))
    reclaimed = await dedup.collect_garbage()
    after = sum(path.stat().st_size for path in pack_files(tmp_path))
    # packs at least half dead are rewritten; the one pack holding the end of "kept" and the start of
    # "dropped" may stay as it is
    assert reclaimed > 0.75 * len(dropped) and before - after >= reclaimed * 0.9
    assert after < len(kept) * 1.5
    assert await dedup.restore("kept") == kept
    assert await dedup.check() == []
    dedup.close()
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    assert await reopened.restore("kept") == kept and reopened.input_ids() == ["kept"]


async def test_blocks_of_an_interrupted_streamed_ingest_are_collected(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)

    async def failing() -> object:
        yield random_bytes(20_000_000, seed=3)  # more than one segment: blocks reach the store
        raise OSError("connection lost")

    with pytest.raises(OSError, match="connection lost"):
        await dedup.ingest(failing())  # type: ignore[arg-type]
    assert dedup.input_ids() == [] and dedup.get_metrics().physical_bytes > 0
    assert await dedup.collect_garbage() > 0
    assert dedup.get_metrics().physical_bytes == 0


async def test_a_torn_pack_tail_is_truncated_on_open(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    data = random_bytes(50_000, seed=4)
    await dedup.process(data, name="input")
    dedup.close()
    (pack,) = pack_files(tmp_path)
    size = pack.stat().st_size
    with pack.open("ab") as file:
        file.write(b"MDBK half a record")  # what a crash mid-append leaves
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    assert pack.stat().st_size == size
    assert await reopened.restore("input") == data
    await reopened.process(random_bytes(5000, seed=5), name="more")
    assert await reopened.check() == []


async def test_damage_in_a_pack_is_found_by_check_and_restore(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(random_bytes(10_000, seed=6), name="input")
    (pack,) = pack_files(tmp_path)
    raw = bytearray(pack.read_bytes())
    raw[-10] ^= 0xFF
    pack.write_bytes(raw)
    problems = await dedup.check()
    assert len(problems) == 1 and "does not match its id" in problems[0]
    with pytest.raises(CorruptDataError, match="block"):
        await dedup.restore("input")


async def test_index_entries_past_a_shortened_pack_are_dropped_and_reported(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    await dedup.process(random_bytes(10_000, seed=7), name="input")
    dedup.close()
    (pack,) = pack_files(tmp_path)
    os.truncate(pack, pack.stat().st_size // 2)
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    (problem,) = await reopened.check()
    assert "input 'input'" in problem and "not in the store" in problem


async def test_an_existing_one_file_per_block_store_still_opens_as_it_is(tmp_path: Path) -> None:
    legacy = DirectoryBlockStore(tmp_path, HASHERS["xxhash"])
    legacy.close()
    old = Deduplicator(BLOCK, store_path=tmp_path)
    data = random_bytes(5000, seed=8)
    await old.process(data, name="old")
    old.close()
    reopened = Deduplicator(BLOCK, store_path=tmp_path)
    assert await reopened.restore("old") == data and await reopened.check() == []
    assert not (tmp_path / "packs").exists()


CHILD_PRELUDE = """
import asyncio, pathlib, sys
import numpy as np
from memories.optimization import Deduplicator
from memories.optimization.dedup import pack_store

pack_store.PACK_BYTES = 1 << 20  # many packs, so garbage collection repacks while it may be killed
BASE = np.random.default_rng(1).integers(0, 256, 1_500_000, dtype=np.uint8)


def content(number):
    data = BASE.copy()
    rng = np.random.default_rng(number)
    data[rng.integers(0, len(data) - 200_000) :][:200_000] = rng.integers(0, 256, 200_000, dtype=np.uint8)
    return data.tobytes()


async def pieces(data):
    for start in range(0, len(data), 300_000):
        yield data[start : start + 300_000]


"""

CHILD = (
    CHILD_PRELUDE
    + """
async def main(store, first):
    dedup = Deduplicator("4KB", chunking="cdc", store_path=store)
    for number in range(first, first + 1000):
        await dedup.ingest(pieces(content(number)), name=f"v{number}")
        print("done", number, flush=True)
        if number % 2:
            await dedup.delete(f"v{number - 1}")
            print("deleted", number - 1, flush=True)
        if number % 4 == 3:
            await dedup.collect_garbage()


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""
)


def content(number: int) -> bytes:
    namespace: dict[str, object] = {}
    exec(CHILD_PRELUDE.replace("pack_store.PACK_BYTES", "_ignored"), namespace)
    return namespace["content"](number)  # type: ignore[operator,no-any-return]


def run_and_kill(script: str, store: Path, round_number: int, delay: float) -> list[str]:
    """Run ``script`` on ``store`` (inputs from ``round_number * 1000`` on), kill -9 it ``delay`` s after its first
    report; return its output lines (the last one possibly cut)."""
    log = store.parent / f"child-{round_number}.log"
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(store), str(round_number * 1000)], stdout=output, stderr=output
        )
        started = time.monotonic()
        while time.monotonic() - started < 60 and "done" not in log.read_text():
            time.sleep(0.05)  # the child is starting
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
    lines = log.read_text().split("\n")
    assert child.returncode == -signal.SIGKILL, lines[-20:]
    return lines


async def verify_store(store: Path, completed: set[int], deleted: set[int]) -> set[int]:
    """The store opens, checks clean, holds every completed input not deleted and restores each one exactly.

    Returns the inputs registered.
    """
    dedup = Deduplicator("4KB", chunking="cdc", store_path=store)
    assert await dedup.check() == []
    registered = {int(input_id[1:]) for input_id in dedup.input_ids()}
    last = max(completed, default=-1)
    # every completed ingest survived, except one whose deletion the kill interrupted after it committed
    assert completed - deleted - registered <= {last - 1}, (sorted(completed - deleted - registered), last)
    # the kill may have come after an ingest committed, before it was reported
    assert registered <= completed | {last + 1}, (sorted(registered - completed), last)
    for number in sorted(registered):
        assert await dedup.restore(f"v{number}") == content(number), number
    dedup.close()
    return registered


@pytest.mark.slow
def test_kill_9_mid_ingest_leaves_a_consistent_usable_store(tmp_path: Path) -> None:
    store, rng = tmp_path / "store", random.Random(15)
    completed: set[int] = set()
    deleted: set[int] = set()
    for round_number in range(5):
        lines = run_and_kill(CHILD, store, round_number, rng.uniform(0.0, 2.5))
        assert all(re.fullmatch(r"(done|deleted) \d+", line) for line in lines[:-1]), lines[-20:]
        completed |= {int(line.split()[1]) for line in lines if line.startswith("done ")}
        deleted |= {int(line.split()[1]) for line in lines if line.startswith("deleted ")}
        registered = asyncio.run(verify_store(store, completed, deleted))
        deleted |= completed - registered  # a deletion the kill interrupted after it committed
        completed |= registered
    assert len(completed) >= 5


def committed_input_ids(store: Path) -> set[str]:
    """The inputs the index has committed, read by a separate connection (no recovery, no flush)."""
    connection = sqlite3.connect(f"file:{store / 'index.sqlite3'}?mode=ro", uri=True)
    try:
        return {row[0] for row in connection.execute("SELECT input_id FROM recipes")}
    finally:
        connection.close()


async def test_a_batch_registers_its_inputs_at_checkpoints_with_one_transaction(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path)
    shared = random_bytes(30_000, seed=9)
    async with dedup.batch("1GB") as batch:
        first = await batch.ingest(pieces_of(shared + random_bytes(3000, seed=10)), name="a")
        second = await batch.ingest(pieces_of(shared), name="b")
        assert second.new_bytes is not None and second.new_bytes < len(shared) // 4  # deduplicated against "a"
        assert committed_input_ids(tmp_path) == set()  # held
        await batch.checkpoint()
        assert committed_input_ids(tmp_path) == {"a", "b"}
        await batch.ingest(pieces_of(b"late"), name="c")
        assert committed_input_ids(tmp_path) == {"a", "b"}
        assert dedup.input_ids() == ["a", "b"]  # registered: the checkpointed ones
        assert await dedup.restore("c") == b"late"  # any other operation checkpoints first
        assert committed_input_ids(tmp_path) == {"a", "b", "c"}
        await batch.ingest(pieces_of(b"at the end"), name="d")
    assert committed_input_ids(tmp_path) == {"a", "b", "c", "d"}
    assert await dedup.restore(first) == shared + random_bytes(3000, seed=10)
    assert dedup.get_metrics().physical_bytes < len(shared) * 1.3
    dedup.close()
    reopened = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path)
    assert await reopened.restore("d") == b"at the end" and await reopened.check() == []


async def test_a_batch_checkpoints_by_itself_after_checkpoint_bytes(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    async with dedup.batch(100_000) as batch:
        for number in range(10):
            await batch.ingest(pieces_of(random_bytes(30_000, seed=number)), name=f"i{number}")
            held = {f"i{n}" for n in range(number + 1)} - committed_input_ids(tmp_path)
            assert len(held) <= 4  # 30 KB of new blocks + 30 KB of input each: a checkpoint every 2
        assert 6 <= len(committed_input_ids(tmp_path)) < 10
    dedup.close()


async def test_replacing_an_input_within_a_batch_frees_only_what_nothing_uses(tmp_path: Path) -> None:
    dedup = Deduplicator(BLOCK, store_path=tmp_path)
    old, new = random_bytes(20_000, seed=11), random_bytes(20_000, seed=12)
    await dedup.process(old, name="kept")
    async with dedup.batch() as batch:
        await batch.ingest(pieces_of(new), name="kept")  # "kept" no longer uses the blocks of old...
        await batch.ingest(pieces_of(old), name="x")  # ...which "x" finds stored and uses in the same checkpoint
        await batch.ingest(pieces_of(old[:8192]), name="y")
        await batch.ingest(pieces_of(new[:8192]), name="y")  # replaces the "y" of this checkpoint
    assert await dedup.restore("x") == old and await dedup.restore("kept") == new
    assert await dedup.restore("y") == new[:8192] and await dedup.check() == []
    assert dedup.get_metrics().physical_bytes == len(old) + len(new)
    for input_id in ("kept", "x", "y"):
        await dedup.delete(input_id)
    assert dedup.get_metrics().physical_bytes == 0
    await dedup.collect_garbage()
    assert pack_files(tmp_path) == []


async def test_ingest_files_and_restore_files_round_trip_small_and_large_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "READ_BYTES", 50_000)  # larger files are streamed, and restored in pieces
    monkeypatch.setattr(streams, "WRITE_BYTES", 50_000)
    source = tmp_path / "source"
    contents = {f"dir{n % 3}/file{n}": random_bytes(n * 9_000, seed=n) for n in range(12)}
    contents["dir0/copy"] = contents["dir1/file10"]
    for path, data in contents.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes(data)
    dedup = Deduplicator(BLOCK, chunking="cdc", store_path=tmp_path / "store")
    async with dedup.batch() as batch:
        recipes = await batch.ingest_files((source / path, path) for path in contents)
        unnamed = await batch.ingest_files([(source / "dir1/file1", None)])
    assert [recipe.input_id for recipe in recipes] == list(contents)
    assert unnamed[0] == await dedup.process(contents["dir1/file1"])  # same default id and blocks
    assert recipes[-1].new_bytes == 0
    target = tmp_path / "restored"
    written = await dedup.restore_files((path, target / path) for path in contents)
    assert written == sum(map(len, contents.values()))
    assert {path: (target / path).read_bytes() for path in contents} == contents
    with pytest.raises(KeyError, match="nothing"):
        await dedup.restore_files([("dir0/file0", target / "again"), ("nothing", target / "no")])
    assert (target / "again").exists() and not (target / "no").exists()
    async with dedup.batch() as batch:
        with pytest.raises(FileNotFoundError):
            await batch.ingest_files([(source / "dir0/file3", "ok"), (source / "absent", "absent")])
    assert "ok" in dedup.input_ids() and "absent" not in dedup.input_ids()


CHILD_BATCH = (
    CHILD_PRELUDE
    + """
from memories.optimization.dedup import streams

# 1.5 MB streams span two segments (blocks held by put_held before the recipe); files of 600 KB are small files
streams.READ_BYTES = 1 << 20
GROUP = 5


def expected(number):
    return content(number)[:600_000] if number // GROUP % 2 else content(number)


async def main(store, first):
    files = pathlib.Path(store).parent / f"files-{first}"
    files.mkdir(exist_ok=True)
    dedup = Deduplicator("4KB", chunking="cdc", store_path=store)
    # checkpoints also come by themselves, about every 3 inputs
    async with dedup.batch(4_000_000) as batch:
        for group in range(first, first + 1000, GROUP):
            numbers = range(group, group + GROUP)
            if group // GROUP % 2:  # files, several in one worker-thread call
                for number in numbers:
                    (files / str(number)).write_bytes(expected(number))
                await batch.ingest_files([(files / str(number), f"v{number}") for number in numbers])
            else:  # streams
                for number in numbers:
                    await batch.ingest(pieces(expected(number)), name=f"v{number}")
            await batch.checkpoint()
            print("done", *numbers, flush=True)
            if group // GROUP % 2:
                print("deleting", group - GROUP, flush=True)
                await dedup.delete(f"v{group - GROUP}")
                print("deleted", group - GROUP, flush=True)
            if group // GROUP % 4 == 3:
                await dedup.collect_garbage()


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""
)


def batch_content(number: int) -> bytes:
    """What CHILD_BATCH stores as input ``v{number}``."""
    namespace: dict[str, object] = {}
    settings = CHILD_BATCH.split("async def main")[0]  # without changing this process's pack and segment sizes
    exec(settings.replace("pack_store.PACK_BYTES", "_ignored").replace("streams.READ_BYTES", "_ignored"), namespace)
    return namespace["expected"](number)  # type: ignore[operator,no-any-return]


@pytest.mark.slow
def test_kill_9_mid_batch_keeps_exactly_the_checkpointed_inputs(tmp_path: Path) -> None:
    """After kill -9 in a batch: the store opens and checks clean, every checkpointed input is there and restores
    byte-exact, and of the inputs after the last checkpoint only a prefix (of automatic checkpoints) is."""
    store, rng = tmp_path / "store", random.Random(16)
    registered: set[int] = set()
    for round_number in range(5):
        lines = run_and_kill(CHILD_BATCH, store, round_number, rng.uniform(0.0, 2.0))
        assert all(re.fullmatch(r"(done( \d+)+|deleting \d+|deleted \d+)", line) for line in lines[:-1]), lines[-20:]
        words = [line.split() for line in lines[:-1]]
        checkpointed = {int(number) for word in words if word[0] == "done" for number in word[1:]}
        deleted = {int(word[1]) for word in words if word[0] == "deleted"}
        deleting = {int(word[1]) for word in words if word[0] == "deleting"} - deleted
        last = max(checkpointed, default=round_number * 1000 - 1)
        unreported = list(range(last + 1, last + 6))
        expected = (registered | checkpointed) - deleted

        dedup = Deduplicator("4KB", chunking="cdc", store_path=store)
        assert asyncio.run(dedup.check()) == []
        now = {int(input_id[1:]) for input_id in dedup.input_ids()}
        assert expected - now <= deleting, (sorted(expected - now), sorted(deleting))
        extra = sorted(now - expected)
        assert extra == unreported[: len(extra)], (extra, unreported)  # a prefix: checkpoints are atomic
        for number in sorted(now - registered):  # those of earlier rounds are covered by check()
            assert asyncio.run(dedup.restore(f"v{number}")) == batch_content(number), number
        dedup.close()
        registered = now
    assert len(registered) >= 10
