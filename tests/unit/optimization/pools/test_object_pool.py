"""ObjectPool: lending, waiting, validation, retirement, reaping and closing."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError, PoolClosed, PoolExhausted
from memories.optimization.pools import ObjectPool


class Resource:
    """A numbered stand-in for an expensive object."""

    numbers = itertools.count()

    def __init__(self) -> None:
        self.number = next(Resource.numbers)
        self.closed = False
        self.dirty = False


def close_resource(resource: Resource) -> None:
    resource.closed = True


async def test_initial_objects_are_created_on_first_acquire() -> None:
    created: list[Resource] = []

    def factory() -> Resource:
        created.append(Resource())
        return created[-1]

    pool = ObjectPool(factory, initial_size=3, max_size=5)
    assert created == []
    async with pool.acquire() as resource:
        assert resource in created
    assert len(created) == 3
    await pool.close()


async def test_async_factory_result_is_awaited() -> None:
    async def factory() -> Resource:
        await asyncio.sleep(0)
        return Resource()

    pool: ObjectPool[Resource] = ObjectPool(factory, max_size=2)  # mypy cannot infer it from an async factory
    async with pool.acquire() as resource:
        assert isinstance(resource, Resource)
    await pool.close()


async def test_released_object_is_reused() -> None:
    pool = ObjectPool(Resource, max_size=2)
    async with pool.acquire() as first:
        pass
    async with pool.acquire() as second:
        assert second is first
    assert pool.stats().created == 1
    await pool.close()


async def test_acquire_times_out_with_pool_exhausted_when_all_objects_are_busy() -> None:
    pool = ObjectPool(Resource, max_size=1)
    async with pool.acquire():
        with pytest.raises(PoolExhausted):
            async with pool.acquire(timeout=0.05):
                pass
    stats = pool.stats()
    assert stats.timeouts == 1
    assert stats.wait_seconds_total >= 0.04
    assert stats.waiters == 0
    await pool.close()


async def test_waiters_are_served_in_arrival_order() -> None:
    pool = ObjectPool(Resource, max_size=1)
    order: list[int] = []

    async def borrower(number: int) -> None:
        async with pool.acquire(timeout=5):
            order.append(number)
            await asyncio.sleep(0.001)

    async with pool.acquire():
        tasks = []
        for number in range(5):
            tasks.append(asyncio.create_task(borrower(number)))
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert pool.stats().waiters == 5
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    await pool.close()


async def test_object_failing_validation_is_destroyed_and_replaced() -> None:
    pool = ObjectPool(Resource, max_size=2, validate=lambda resource: not resource.dirty, close_fn=close_resource)
    async with pool.acquire() as first:
        first.dirty = True
    async with pool.acquire() as second:
        assert second is not first
    assert first.closed
    assert pool.stats().validation_failures == 1
    await pool.close()


async def test_async_validation_that_raises_counts_as_invalid() -> None:
    async def validate(resource: Resource) -> bool:
        raise ConnectionError("gone")

    pool = ObjectPool(Resource, max_size=1, validate=validate)
    async with pool.acquire() as first:
        pass
    async with pool.acquire() as second:
        assert second is not first
    await pool.close()


async def test_reset_runs_when_an_object_is_returned() -> None:
    def reset(resource: Resource) -> None:
        resource.dirty = False

    pool = ObjectPool(Resource, max_size=1, reset=reset)
    async with pool.acquire() as resource:
        resource.dirty = True
    assert resource.dirty is False
    await pool.close()


async def test_object_whose_reset_fails_is_destroyed() -> None:
    def reset(resource: Resource) -> None:
        raise RuntimeError("cannot reset")

    pool = ObjectPool(Resource, max_size=1, reset=reset, close_fn=close_resource)
    async with pool.acquire() as resource:
        pass
    assert resource.closed
    assert pool.stats().size == 0
    await pool.close()


async def test_object_is_retired_after_max_uses() -> None:
    pool = ObjectPool(Resource, max_size=1, max_uses=2, close_fn=close_resource)
    seen = []
    for _ in range(3):
        async with pool.acquire() as resource:
            seen.append(resource)
    assert seen[0] is seen[1] is not seen[2]
    assert seen[0].closed
    await pool.close()


async def test_object_is_retired_after_max_lifetime() -> None:
    pool = ObjectPool(Resource, max_size=1, max_lifetime=0.02)
    async with pool.acquire() as first:
        pass
    await asyncio.sleep(0.03)
    async with pool.acquire() as second:
        assert second is not first
    await pool.close()


async def test_idle_reaping_removes_idle_objects_down_to_min_size_only() -> None:
    pool = ObjectPool(Resource, initial_size=4, max_size=4, min_size=2, idle_timeout=0.02)
    await pool.start()
    for _ in range(100):
        if pool.stats().size == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    stats = pool.stats()
    assert stats.size == stats.idle == 2
    assert stats.destroyed == 2
    await pool.close()


async def test_reap_destroys_objects_past_their_lifetime_and_tops_up_to_min_size() -> None:
    pool = ObjectPool(Resource, initial_size=2, max_size=3, min_size=2, max_lifetime=3600, close_fn=close_resource)
    async with pool.acquire() as old:
        pass
    pool_entries = list(pool._idle)
    for entry in pool_entries:
        entry.created_at -= 7200
    assert await pool.reap() == 2
    assert old.closed
    stats = pool.stats()
    assert stats.size == stats.idle == 2
    assert stats.created == 4
    await pool.close()


async def test_close_leaves_no_background_task() -> None:
    pool = ObjectPool(Resource, initial_size=1, max_size=2, idle_timeout=10)
    await pool.start()
    await pool.close()
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert others == []


async def test_object_is_discarded_when_the_body_raises() -> None:
    pool = ObjectPool(Resource, max_size=1, close_fn=close_resource)
    with pytest.raises(ZeroDivisionError):
        async with pool.acquire() as resource:
            raise ZeroDivisionError
    assert resource.closed
    assert pool.stats().size == 0
    await pool.close()


async def test_object_is_kept_after_a_body_error_when_discard_is_off() -> None:
    pool = ObjectPool(Resource, max_size=1, discard_on_error=False)
    with pytest.raises(ZeroDivisionError):
        async with pool.acquire() as first:
            raise ZeroDivisionError
    async with pool.acquire() as second:
        assert second is first
    await pool.close()


async def test_failed_creation_frees_its_slot() -> None:
    attempts = itertools.count()

    def flaky() -> Resource:
        if next(attempts) == 0:
            raise ConnectionError("first attempt fails")
        return Resource()

    pool = ObjectPool(flaky, max_size=1)
    with pytest.raises(ConnectionError):
        async with pool.acquire():
            pass
    async with pool.acquire(timeout=0.1) as resource:
        assert isinstance(resource, Resource)
    await pool.close()


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    pool = ObjectPool(Resource, max_size=1)
    async with pool.acquire():

        async def wait_forever() -> None:
            async with pool.acquire(timeout=None):
                pass

        waiter = asyncio.create_task(wait_forever())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with pool.acquire(timeout=0.1):
        assert pool.stats().in_use == 1
    await pool.close()


async def test_close_destroys_idle_objects_and_fails_waiters() -> None:
    pool = ObjectPool(Resource, initial_size=1, max_size=1, close_fn=close_resource)
    async with pool.acquire() as busy:
        waiter = asyncio.create_task(pool.acquire(timeout=5).__aenter__())
        await asyncio.sleep(0.01)
        await pool.close()
        with pytest.raises(PoolClosed):
            await waiter
    assert busy.closed
    assert pool.stats().size == 0
    with pytest.raises(PoolClosed):
        async with pool.acquire():
            pass


async def test_close_with_wait_returns_after_objects_in_use_come_back() -> None:
    pool = ObjectPool(Resource, max_size=1)
    returned = asyncio.Event()

    async def borrower() -> None:
        async with pool.acquire():
            await asyncio.sleep(0.03)
        returned.set()

    task = asyncio.create_task(borrower())
    await asyncio.sleep(0.01)
    await pool.close(wait=True)
    assert pool.stats().in_use == 0
    await task


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"max_size": 0}, "max_size"),
        ({"initial_size": 3, "max_size": 2}, "initial_size"),
        ({"min_size": 5, "max_size": 2}, "min_size"),
        ({"max_uses": 0}, "max_uses"),
        ({"idle_timeout": "soon"}, "idle_timeout"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ObjectPool(Resource, **arguments)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    max_size=st.integers(min_value=1, max_value=4),
    hold_times=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=12),
    failures=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_concurrent_borrowers_never_exceed_max_size(max_size: int, hold_times: list[int], failures: list[bool]) -> None:
    async def scenario() -> None:
        pool = ObjectPool(Resource, max_size=max_size, acquire_timeout=10)
        in_use: set[int] = set()
        peak = 0

        async def borrower(hold: int, fail: bool) -> None:
            nonlocal peak
            try:
                async with pool.acquire() as resource:
                    assert resource.number not in in_use, "an object was lent twice"
                    in_use.add(resource.number)
                    peak = max(peak, len(in_use))
                    for _ in range(hold):
                        await asyncio.sleep(0)
                    in_use.discard(resource.number)
                    if fail:
                        raise ValueError("body failed")
            except ValueError:
                pass

        await asyncio.gather(*(borrower(hold, fail) for hold, fail in zip(hold_times, failures, strict=False)))
        stats = pool.stats()
        assert peak <= max_size
        assert stats.in_use == 0 and stats.waiters == 0
        assert stats.size == stats.idle <= max_size
        assert stats.created - stats.destroyed == stats.size
        await pool.close()

    asyncio.run(scenario())
