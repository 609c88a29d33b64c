"""Ordered, bounded parallel map on a thread pool, and re-chunking of byte streams.

At most ``limit`` items are in flight, so memory stays within ``limit`` chunks whatever the
input's length; results come out in input order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from concurrent.futures import Executor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


async def as_async(items: AsyncIterable[Item] | Iterable[Item]) -> AsyncIterator[Item]:
    """Iterate a sync or async iterable asynchronously."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def ordered_map(
    function: Callable[[Item], Result],
    items: AsyncIterable[Item] | Iterable[Item],
    executor: Executor,
    limit: int,
) -> AsyncIterator[Result]:
    """Yield ``function(item)`` for each item, computed in ``executor`` with at most ``limit`` in flight."""
    loop = asyncio.get_running_loop()
    pending: deque[asyncio.Future[Result]] = deque()
    try:
        async for item in as_async(items):
            if len(pending) >= limit:
                yield await pending.popleft()
            pending.append(loop.run_in_executor(executor, function, item))
        while pending:
            yield await pending.popleft()
    finally:
        for future in pending:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved so asyncio does not log it: the first error already propagated
            future.cancel()


async def rechunk(pieces: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Re-cut a stream of byte pieces of any sizes into pieces of exactly ``size`` bytes (the last may be shorter)."""
    buffer = bytearray()
    async for piece in pieces:
        view = memoryview(piece).cast("B")
        if buffer:
            taken = min(size - len(buffer), len(view))
            buffer += view[:taken]
            view = view[taken:]
            if len(buffer) < size:
                continue
            yield bytes(buffer)
            buffer.clear()
        while len(view) >= size:
            yield bytes(view[:size])
            view = view[size:]
        buffer += view
    if buffer:
        yield bytes(buffer)


class ByteCounter:
    """Counts the bytes of a stream passing through :meth:`through`."""

    def __init__(self) -> None:
        self.total = 0

    async def through(self, pieces: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Yield ``pieces`` unchanged, adding their lengths to :attr:`total`."""
        async for piece in pieces:
            self.total += len(piece)
            yield piece
