"""The running event loop, learned once by code that needs it on every command.

On Python 3.11 every ``asyncio.get_running_loop()`` (so every future created without a loop at hand) makes a
``getpid()`` system call, to notice a fork. Code that asks for the loop per command keeps a :class:`RunningLoop`.
"""

from __future__ import annotations

import asyncio


class RunningLoop:
    """Called from inside a running event loop, returns it; asks asyncio only when it knows no loop or the one it
    knows is not running (a later ``asyncio.run``, another ``run_until_complete``). One running loop at a time may
    use it: an object shared by two threads' loops would need one per thread."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        return loop
