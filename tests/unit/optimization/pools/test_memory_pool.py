"""MemoryPool: size classes, zero-copy views, release checks, exhaustion, stats and closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from memories.errors import ConfigError, InvalidRelease, PoolClosed, PoolExhausted
from memories.optimization.pools import MemoryBlock, MemoryPool

KIB = 1024


@pytest.fixture
async def pool() -> AsyncIterator[MemoryPool]:
    memory_pool = MemoryPool(block_sizes=[4 * KIB, 16 * KIB, 64 * KIB], total_size="1MB")
    yield memory_pool
    memory_pool.close()


async def test_allocate_picks_the_smallest_class_that_fits(pool: MemoryPool) -> None:
    small = await pool.allocate(size=100)
    exact = await pool.allocate(size=4 * KIB)
    medium = await pool.allocate(size=4 * KIB + 1)
    large = await pool.allocate(size="64KB")
    assert [block.size_class for block in (small, exact, medium, large)] == [4 * KIB, 4 * KIB, 16 * KIB, 64 * KIB]
    assert medium.capacity == 16 * KIB
    assert large.size == 64 * KIB


@pytest.mark.parametrize("size", [0, -1, 64 * KIB + 1, "1GB", "lots"])
async def test_allocate_rejects_sizes_outside_the_classes(pool: MemoryPool, size: int | str) -> None:
    with pytest.raises(ValueError, match="size"):
        await pool.allocate(size=size)


async def test_view_is_a_zero_copy_window_on_the_arena(pool: MemoryPool) -> None:
    block = await pool.allocate(size=10)
    assert len(block.view) == 10
    block.view[:] = b"0123456789"
    arena_view = pool._arena.view
    assert bytes(arena_view[block.offset : block.offset + 10]) == b"0123456789"


async def test_live_blocks_have_distinct_offsets_inside_their_region(pool: MemoryPool) -> None:
    blocks = [await pool.allocate(size=4 * KIB) for _ in range(5)]
    region = pool.layout()[0]
    offsets = sorted(block.offset for block in blocks)
    assert len(set(offsets)) == 5
    assert all(region.offset <= offset and offset + 4 * KIB <= region.offset + region.length for offset in offsets)
    assert all((offset - region.offset) % (4 * KIB) == 0 for offset in offsets)


async def test_double_release_raises_invalid_release(pool: MemoryPool) -> None:
    block = await pool.allocate(size=1)
    await pool.release(block)
    with pytest.raises(InvalidRelease):
        await pool.release(block)


async def test_release_of_another_pools_block_raises_invalid_release(pool: MemoryPool) -> None:
    async with MemoryPool(block_sizes=[4 * KIB], total_size="64KB") as other:
        foreign = await other.allocate(size=1)
        with pytest.raises(InvalidRelease, match="another"):
            await pool.release(foreign)
        await other.release(foreign)


async def test_stale_id_cannot_release_a_reused_block(pool: MemoryPool) -> None:
    first = await pool.allocate(size=1)
    await pool.release(first.id)
    second = await pool.allocate(size=1)
    assert second.offset == first.offset
    with pytest.raises(InvalidRelease):
        await pool.release(first.id)
    assert pool.block(second.id) is second


async def test_view_is_unusable_after_release(pool: MemoryPool) -> None:
    block = await pool.allocate(size=8)
    await pool.release(block)
    with pytest.raises(ValueError, match="released"):
        block.view[0] = 1


async def test_exhausted_class_raises_at_once_by_default() -> None:
    async with MemoryPool(block_sizes=[4 * KIB], total_size="8KB") as pool:
        await pool.allocate(size=1)
        await pool.allocate(size=1)
        with pytest.raises(PoolExhausted):
            await pool.allocate(size=1)
        assert pool.stats().classes[0].exhausted == 1


async def test_exhausted_pool_in_wait_mode_gets_the_next_released_block() -> None:
    async with MemoryPool(block_sizes=[4 * KIB], total_size="4KB", on_exhausted="wait") as pool:
        held = await pool.allocate(size=1)
        waiter = asyncio.create_task(pool.allocate(size=1, timeout=5))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await pool.release(held)
        granted = await waiter
        assert granted.offset == held.offset


async def test_exhausted_pool_in_wait_mode_times_out() -> None:
    async with MemoryPool(block_sizes=[4 * KIB], total_size="4KB", on_exhausted="wait", timeout="50ms") as pool:
        await pool.allocate(size=1)
        with pytest.raises(PoolExhausted, match="within"):
            await pool.allocate(size=1)
        assert pool.stats().classes[0].waiters == 0


async def test_close_fails_waiters_and_rejects_further_use() -> None:
    pool = MemoryPool(block_sizes=[4 * KIB], total_size="4KB", on_exhausted="wait")
    block = await pool.allocate(size=1)
    waiter = asyncio.create_task(pool.allocate(size=1))
    await asyncio.sleep(0.01)
    pool.close()
    with pytest.raises(PoolClosed):
        await waiter
    with pytest.raises(PoolClosed):
        await pool.allocate(size=1)
    with pytest.raises(ValueError, match="released"):
        bytes(block.view)


async def test_close_survives_a_view_the_caller_still_holds(caplog: pytest.LogCaptureFixture) -> None:
    pool = MemoryPool(block_sizes=[4 * KIB], total_size="16KB")
    block = await pool.allocate(size=16)
    derived = block.view[2:4]
    pool.close()
    assert "live views" in caplog.text
    derived.release()


async def test_stats_report_utilization_fragmentation_and_high_water(pool: MemoryPool) -> None:
    first = await pool.allocate(size=1000)
    second = await pool.allocate(size=10 * KIB)
    await pool.release(first)
    stats = pool.stats()
    assert stats.bytes_in_use == 16 * KIB
    assert stats.requested_bytes == 10 * KIB
    assert stats.internal_fragmentation_bytes == 6 * KIB
    assert stats.internal_fragmentation_ratio == pytest.approx(6 / 16)
    assert stats.high_water_bytes == 20 * KIB
    assert stats.utilization == pytest.approx(16 * KIB / stats.capacity_bytes)
    assert (stats.allocations, stats.releases) == (2, 1)
    await pool.release(second)
    assert pool.stats().utilization == 0


async def test_block_ids_can_be_looked_up_and_released(pool: MemoryPool) -> None:
    block = await pool.allocate(size=5)
    assert pool.block(block.id) is block
    await pool.release(block.id)
    with pytest.raises(KeyError):
        pool.block(block.id)


async def test_sync_fast_path_allocates_and_releases(pool: MemoryPool) -> None:
    block = pool.allocate_nowait(64)
    assert isinstance(block, MemoryBlock)
    pool.release_nowait(block)
    assert pool.stats().blocks_in_use == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"block_sizes": [], "total_size": "1MB"}, "block_sizes"),
        ({"block_sizes": [4096, 4096], "total_size": "1MB"}, "block_sizes"),
        ({"block_sizes": [0], "total_size": "1MB"}, "block_sizes"),
        ({"block_sizes": [4096], "total_size": "1KB"}, "total_size"),
        ({"block_sizes": [4096], "total_size": "1MB", "on_exhausted": "block"}, "on_exhausted"),
        ({"block_sizes": [4096], "total_size": "1MB", "shm_name": "a", "path": "/tmp/b"}, "shm_name"),
        ({"block_sizes": [4096], "total_size": "1MB", "shm_name": "a/b"}, "shm_name"),
        ({"block_sizes": [4096, 8192], "total_size": "1MB", "region_shares": [1]}, "region_shares"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        MemoryPool(**arguments)  # type: ignore[arg-type]


async def test_waiting_allocations_are_served_in_arrival_order() -> None:
    async with MemoryPool(block_sizes=[4 * KIB], total_size="4KB", on_exhausted="wait") as pool:
        held = await pool.allocate(size=1)
        served: list[int] = []

        async def user(number: int) -> None:
            block = await pool.allocate(size=1, timeout=5)
            served.append(number)
            await pool.release(block)

        tasks = []
        for number in range(4):
            tasks.append(asyncio.create_task(user(number)))
            await asyncio.sleep(0)
        await pool.release(held)
        await asyncio.gather(*tasks)
        assert served == [0, 1, 2, 3]
