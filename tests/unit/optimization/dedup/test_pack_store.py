"""The pack store (pack_store.py): persistence, garbage collection, recovery from torn packs and from kill -9."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memories.errors import ConfigError, CorruptDataError
from memories.optimization import Deduplicator
from memories.optimization.dedup import pack_store
from memories.optimization.dedup.directory_store import DirectoryBlockStore
from memories.optimization.dedup.hashing import HASHERS

BLOCK = 1024


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


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


CHILD = """
import asyncio, sys
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


def content(number: int) -> bytes:
    namespace: dict[str, object] = {}
    exec(CHILD.split("async def pieces")[0].replace("pack_store.PACK_BYTES", "_ignored"), namespace)
    return namespace["content"](number)  # type: ignore[operator,no-any-return]


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
        log = tmp_path / f"child-{round_number}.log"
        with log.open("w") as output:
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(store), str(round_number * 1000)], stdout=output, stderr=output
            )
            started = time.monotonic()
            while time.monotonic() - started < 60 and "done" not in log.read_text():
                time.sleep(0.05)  # the child is starting
            time.sleep(rng.uniform(0.0, 2.5))
            child.send_signal(signal.SIGKILL)
            child.wait()
        lines = log.read_text().split("\n")
        assert child.returncode == -signal.SIGKILL, lines[-20:]
        assert all(re.fullmatch(r"(done|deleted) \d+", line) for line in lines[:-1]), lines[-20:]
        completed |= {int(line.split()[1]) for line in lines if line.startswith("done ")}
        deleted |= {int(line.split()[1]) for line in lines if line.startswith("deleted ")}
        registered = asyncio.run(verify_store(store, completed, deleted))
        deleted |= completed - registered  # a deletion the kill interrupted after it committed
        completed |= registered
    assert len(completed) >= 5
