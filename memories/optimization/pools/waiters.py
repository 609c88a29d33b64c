"""A first-in, first-out queue of tasks waiting for something a pool hands out.

Pools hand a freed resource *directly* to the oldest waiter instead of putting it back
where a newcomer could grab it first, so waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

Granted = TypeVar("Granted")


class WaitQueue(Generic[Granted]):
    """FIFO of futures; :meth:`hand_off` resolves the oldest one still waiting.

    Not thread-safe: use from the event loop that owns the pool.
    """

    def __init__(self) -> None:
        self.futures: deque[asyncio.Future[Granted]] = deque()
        """Futures of the tasks waiting, oldest first (read-only; truthy when anyone waits)."""

    def __len__(self) -> int:
        return len(self.futures)

    def hand_off(self, value: Granted) -> bool:
        """Give ``value`` to the oldest waiter; return False when nobody is waiting."""
        while self.futures:
            future = self.futures.popleft()
            if not future.done():
                future.set_result(value)
                return True
        return False

    def fail_all(self, error: BaseException) -> None:
        """Wake every waiter with ``error`` (used when the pool closes)."""
        while self.futures:
            future = self.futures.popleft()
            if not future.done():
                future.set_exception(error)

    async def wait(self, timeout_seconds: float | None, give_back: Callable[[Granted], None]) -> Granted:
        """Wait up to ``timeout_seconds`` (None = forever) for a hand-off.

        Raises TimeoutError when the time runs out, or whatever :meth:`fail_all` set. When
        a value was handed over in the same instant the wait was cancelled or timed out,
        ``give_back`` receives it so the pool never loses it.
        """
        future: asyncio.Future[Granted] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        try:
            async with asyncio.timeout(timeout_seconds):
                return await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                give_back(future.result())
            raise
        finally:
            if future in self.futures:
                self.futures.remove(future)
