"""L2 on a disk that fails: full (a 1 MiB tmpfs), turned read-only under a running cache, a directory that cannot
be created. The cache keeps serving from the tiers left, never returns wrong bytes, counts the errors and says
what is off (``degradations()``); nothing stale comes back after a restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from memories.optimization.cache import CacheManager


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of the test's own (unmounted afterwards, whatever happened)."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def value_of(index: int) -> bytes:
    return f"{index}:".encode() + os.urandom(20_000)  # incompressible: every value really takes 20 KB of disk


async def test_a_full_disk_costs_entries_never_correctness(small_disk: Path) -> None:
    cache = CacheManager("64KB", "16MB", l2_path=small_disk / "l2")  # L2's budget is more than the disk holds
    written = {}
    for index in range(150):  # 3 MB through a 64 KB L1 onto a 1 MB disk
        written[index] = value_of(index)
        await cache.set(f"k{index}", written[index])
    await cache.settle()
    assert cache.stats().tiers["l2"].errors > 0, "the disk should have filled up"
    found = 0
    for index, value in written.items():
        read = await cache.get(f"k{index}")
        assert read is None or read == value, f"k{index}: wrong bytes"
        found += read is not None
    assert 10 < found < 150  # what fitted is served; what did not is a miss
    assert cache.degradations() == []  # a full disk is not an outage: L2 keeps working for what fits
    for index in range(150):
        await cache.delete(f"k{index}")
    await cache.settle()
    await cache.set("after", b"room again" * 1000)
    await cache.set("push", b"x" * 60_000)  # evicts "after" from L1 into L2
    await cache.settle()
    assert await cache.get("after") == b"room again" * 1000
    await cache.close()


async def test_a_disk_turned_read_only_switches_l2_off_and_stale_files_never_return(small_disk: Path) -> None:
    directory = small_disk / "l2"
    cache = CacheManager("64KB", "16MB", l2_path=directory)
    await cache.set("old", b"first" * 5000)  # through L1 into L2
    await cache.set("filler", b"f" * 60_000)
    await cache.settle()
    await asyncio.to_thread(subprocess.run, ["mount", "-o", "remount,ro", str(small_disk)], check=True)
    await cache.set("old", b"second" * 5000)  # L2 cannot delete its old file nor write the new one
    await cache.set("filler2", b"g" * 60_000)
    await cache.settle()
    assert any("l2 off" in reason for reason in cache.degradations()), cache.degradations()
    assert await cache.get("old") in (None, b"second" * 5000)  # never the old value
    await cache.set("still", b"served from L1")
    assert await cache.get("still") == b"served from L1"
    await cache.close()
    restarted = CacheManager("64KB", "16MB", l2_path=directory)
    await restarted.start()
    assert any("cannot use the L2 directory" in reason for reason in restarted.degradations())
    assert await restarted.get("old") is None
    await restarted.close()


async def test_an_l2_directory_that_cannot_be_made_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = CacheManager("1MB", "16MB", l2_path=blocker / "l2")
    await cache.start()
    (reason,) = cache.degradations()
    assert str(blocker / "l2") in reason and "Not a directory" in reason
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"
    await cache.close()
