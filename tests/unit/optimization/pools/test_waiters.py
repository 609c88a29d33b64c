"""WaitQueue: FIFO hand-off, timeouts, and values that race with cancellation."""

from __future__ import annotations

import asyncio

import pytest

from memories.errors import PoolClosed
from memories.optimization.pools.waiters import WaitQueue


async def test_hand_off_goes_to_the_oldest_waiter() -> None:
    queue: WaitQueue[str] = WaitQueue()
    first = asyncio.create_task(queue.wait(5, lambda value: None))
    second = asyncio.create_task(queue.wait(5, lambda value: None))
    await asyncio.sleep(0)
    assert queue.hand_off("a") and queue.hand_off("b")
    assert (await first, await second) == ("a", "b")
    assert not queue.hand_off("nobody waits")


async def test_wait_times_out_and_leaves_the_queue() -> None:
    queue: WaitQueue[int] = WaitQueue()
    with pytest.raises(TimeoutError):
        await queue.wait(0.01, lambda value: None)
    assert len(queue) == 0


async def test_value_handed_over_as_the_waiter_is_cancelled_is_given_back() -> None:
    queue: WaitQueue[int] = WaitQueue()
    returned: list[int] = []
    waiter = asyncio.create_task(queue.wait(None, returned.append))
    await asyncio.sleep(0)
    queue.hand_off(7)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert returned == [7]


async def test_fail_all_wakes_every_waiter_with_the_error() -> None:
    queue: WaitQueue[int] = WaitQueue()
    waiters = [asyncio.create_task(queue.wait(5, lambda value: None)) for _ in range(3)]
    await asyncio.sleep(0)
    queue.fail_all(PoolClosed("closed"))
    for waiter in waiters:
        with pytest.raises(PoolClosed):
            await waiter
