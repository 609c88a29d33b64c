"""L2 on disk: restart recovery, corruption handling, byte budget and file naming."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from memories.optimization.cache import disk_format
from memories.optimization.cache.disk_tier import DiskTier
from memories.optimization.cache.policies import create_policy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def new_tier(root: Path, capacity: int = 1 << 20, clock: FakeClock | None = None) -> DiskTier:
    tier = DiskTier(root, capacity, create_policy("lru"), clock or time.time)
    await tier.recover()
    return tier


def files(root: Path) -> list[Path]:
    return sorted(root.glob("??/??/*.entry"))


async def test_entry_survives_restart(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path)
    tier.put("key", b"payload", None)
    await tier.settle()
    restarted = await new_tier(tmp_path)
    stored = await restarted.get("key")
    assert stored is not None and stored.payload == b"payload"


async def test_l2_drops_corrupt_entry_on_restart(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path)
    tier.put("flipped", b"x" * 100, None)
    await tier.settle()
    (path,) = files(tmp_path)
    contents = bytearray(path.read_bytes())
    contents[-10] ^= 0x01
    path.write_bytes(bytes(contents))
    restarted = await new_tier(tmp_path)
    assert await restarted.get("flipped") is None
    await restarted.settle()
    assert not path.exists()
    assert restarted.stats().entries == 0


async def test_l2_drops_truncated_entry_on_restart(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path)
    tier.put("cut", b"y" * 100, None)
    await tier.settle()
    (path,) = files(tmp_path)
    path.write_bytes(path.read_bytes()[:-1])
    restarted = await new_tier(tmp_path)
    assert await restarted.get("cut") is None
    assert files(tmp_path) == []


async def test_l2_drops_entry_with_corrupt_header_on_restart(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path)
    tier.put("header", b"z" * 100, None)
    await tier.settle()
    (path,) = files(tmp_path)
    path.write_bytes(b"XXXX" + path.read_bytes()[4:])
    restarted = await new_tier(tmp_path)
    assert restarted.stats().entries == 0
    assert files(tmp_path) == []


async def test_restart_deletes_leftover_temp_files(tmp_path: Path) -> None:
    await new_tier(tmp_path)
    leftover = tmp_path / "tmp" / "crashed.tmp"
    leftover.write_bytes(b"half a write")
    await new_tier(tmp_path)
    assert not leftover.exists()


async def test_keys_never_become_paths(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path)
    tier.put("../../etc/passwd", b"v", None)
    await tier.settle()
    (path,) = files(tmp_path)
    assert path.is_relative_to(tmp_path)
    assert path.name == disk_format.entry_path(tmp_path, "../../etc/passwd").name
    assert "passwd" not in str(path)


async def test_files_on_disk_never_exceed_capacity(tmp_path: Path) -> None:
    capacity = 5_000
    tier = await new_tier(tmp_path, capacity)
    for index in range(100):
        tier.put(f"key-{index}", bytes([index]) * 300, None)
        await tier.settle()
        assert sum(path.stat().st_size for path in files(tmp_path)) <= capacity
    assert tier.stats().evictions > 0
    assert tier.bytes_used == sum(path.stat().st_size for path in files(tmp_path))


async def test_too_large_value_is_declined(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path, 100)
    assert not tier.put("big", b"b" * 200, None)
    await tier.settle()
    assert files(tmp_path) == []


async def tier_with_expired_entry(root: Path, clock: FakeClock) -> DiskTier:
    tier = await new_tier(root, clock=clock)
    tier.put("short", b"v", clock.now + 10)
    await tier.settle()
    clock.now += 11
    return tier


async def test_expired_entry_is_not_returned_and_is_deleted(tmp_path: Path) -> None:
    tier = await tier_with_expired_entry(tmp_path, FakeClock())
    assert await tier.get("short") is None
    await tier.settle()
    assert files(tmp_path) == []


async def test_expired_entry_is_deleted_on_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    await tier_with_expired_entry(tmp_path, clock)
    await new_tier(tmp_path, clock=clock)
    assert files(tmp_path) == []


async def test_set_expiry_rewrites_the_entry(tmp_path: Path) -> None:
    clock = FakeClock()
    tier = await new_tier(tmp_path, clock=clock)
    tier.put("key", b"v", None)
    await tier.settle()
    assert tier.set_expiry("key", clock.now + 5)
    await tier.settle()
    restarted = await new_tier(tmp_path, clock=clock)
    presence = restarted.presence("key")
    assert presence is not None and presence.expires_at == clock.now + 5


async def test_clear_removes_every_file(tmp_path: Path) -> None:
    tier = await new_tier(tmp_path)
    for index in range(5):
        tier.put(f"k{index}", b"v", None)
    tier.clear()
    await tier.settle()
    assert files(tmp_path) == [] and tier.bytes_used == 0


async def test_concurrent_puts_and_gets_keep_index_and_files_consistent(tmp_path: Path) -> None:
    capacity = 8_000
    tier = await new_tier(tmp_path, capacity)

    async def writer(index: int) -> None:
        tier.put(f"key-{index % 20}", bytes([index % 251]) * (100 + index), None)
        stored = await tier.get(f"key-{(index * 7) % 20}")
        assert stored is None or len(stored.payload) >= 100

    await asyncio.gather(*(writer(index) for index in range(200)))
    await tier.settle()
    on_disk = sum(path.stat().st_size for path in files(tmp_path))
    assert on_disk <= capacity
    assert tier.bytes_used == on_disk
    assert tier.stats().entries == len(files(tmp_path))
