"""Random allocate/release sequences keep MemoryPool's invariants."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import PoolExhausted
from memories.optimization.pools import MemoryBlock, MemoryPool

CLASSES = (512, 2048, 8192)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("allocate"), st.integers(min_value=1, max_value=CLASSES[-1])),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=10_000)),
    ),
    max_size=80,
)


def fill_byte(block: MemoryBlock) -> int:
    return block.id % 251 + 1


@settings(max_examples=60, deadline=None)
@given(steps=operations, total_size=st.sampled_from([40 * 1024, 64 * 1024, 96 * 1024]))
def test_random_sequences_never_lend_overlapping_blocks(steps: list[tuple[str, int]], total_size: int) -> None:
    async def scenario() -> None:
        pool = MemoryPool(block_sizes=CLASSES, total_size=total_size)
        regions = {region.size_class: region for region in pool.layout()}
        live: list[MemoryBlock] = []
        allocations = releases = high_water = 0
        for action, argument in steps:
            if action == "allocate":
                try:
                    block = await pool.allocate(size=argument)
                except PoolExhausted:
                    fitting = min(size for size in CLASSES if size >= argument)
                    in_class = sum(1 for held in live if held.size_class == fitting)
                    assert in_class == regions[fitting].block_count, "refused while the class had room"
                    continue
                region = regions[block.size_class]
                assert block.size_class == min(size for size in CLASSES if size >= argument)
                assert region.offset <= block.offset <= region.offset + region.length - block.capacity
                for held in live:
                    assert block.offset + block.capacity <= held.offset or held.offset + held.capacity <= block.offset
                block.view[:] = bytes([fill_byte(block)]) * block.size
                live.append(block)
                allocations += 1
                high_water = max(high_water, sum(held.capacity for held in live))
            elif live:
                block = live.pop(argument % len(live))
                assert bytes(block.view) == bytes([fill_byte(block)]) * block.size, "another block overwrote it"
                await pool.release(block)
                releases += 1
            stats = pool.stats()
            assert stats.bytes_in_use == sum(held.capacity for held in live) <= stats.capacity_bytes
            assert stats.requested_bytes == sum(held.size for held in live)
            assert (stats.allocations, stats.releases, stats.high_water_bytes) == (allocations, releases, high_water)
            for class_stats in stats.classes:
                assert class_stats.blocks_in_use <= class_stats.total_blocks
        pool.close()

    asyncio.run(scenario())


@settings(max_examples=30, deadline=None)
@given(
    requests=st.lists(
        st.tuples(st.integers(min_value=1, max_value=CLASSES[-1]), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=30,
    )
)
def test_waiting_allocations_under_contention_all_complete_without_overlap(requests: list[tuple[int, int]]) -> None:
    async def scenario() -> None:
        pool = MemoryPool(block_sizes=CLASSES, total_size=40 * 1024, on_exhausted="wait", timeout=10)

        async def user(size: int, hold: int) -> None:
            block = await pool.allocate(size=size)
            block.view[:] = bytes([fill_byte(block)]) * size
            for _ in range(hold):
                await asyncio.sleep(0)
            assert bytes(block.view) == bytes([fill_byte(block)]) * size, "another block overwrote it"
            await pool.release(block)

        await asyncio.gather(*(user(size, hold) for size, hold in requests))
        stats = pool.stats()
        assert stats.blocks_in_use == 0 and stats.allocations == stats.releases == len(requests)
        assert all(class_stats.waiters == 0 for class_stats in stats.classes)
        pool.close()

    asyncio.run(scenario())
