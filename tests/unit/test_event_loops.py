"""RunningLoop gives the loop that runs the caller, also across loops run one after another."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from memories.event_loops import RunningLoop


async def both(running: RunningLoop) -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
    return running(), asyncio.get_running_loop()


def test_each_run_gets_its_own_loop_and_futures_made_with_it_complete() -> None:
    running = RunningLoop()
    first, expected = asyncio.run(both(running))
    assert first is expected
    second, expected = uvloop.run(both(running))  # a later loop, of another kind
    assert second is expected and second is not first

    async def resolved() -> str:
        future: asyncio.Future[str] = running().create_future()
        running().call_soon(future.set_result, "done")
        return await future

    assert asyncio.run(resolved()) == "done"


def test_a_loop_that_stopped_without_closing_is_not_handed_to_the_next() -> None:
    running = RunningLoop()
    kept_open = asyncio.new_event_loop()
    try:
        first, _ = kept_open.run_until_complete(both(running))
        assert first is kept_open
        second, expected = asyncio.run(both(running))
        assert second is expected and second is not kept_open
    finally:
        kept_open.close()


def test_outside_a_running_loop_it_raises_like_asyncio() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        RunningLoop()()
