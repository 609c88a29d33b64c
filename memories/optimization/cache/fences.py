"""Fences: how an operation that waits (a read from L2 or L3, a compute_fn, a write's round trip to L3) learns
that its key was written, deleted or invalidated meanwhile, so that what it carries back never replaces a newer
value.

An operation opens a fence on its key before it starts waiting and checks :attr:`Fence.superseded` before it
installs anything; every write, delete and invalidation of the key calls :meth:`Fences.supersede` first. No lock
is taken: the event loop runs one step at a time, and the check and the install happen in the same step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Fence:
    """One waiting operation on ``key``; ``superseded`` turns True when the key changed after it was opened."""

    __slots__ = ("key", "superseded")

    def __init__(self, key: str) -> None:
        self.key = key
        self.superseded = False


class Fences:
    """The open fences, by key (an entry exists only while some operation on that key is waiting)."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[str, list[Fence]] = {}

    @contextmanager
    def watch(self, key: str) -> Iterator[Fence]:
        """Open a fence on ``key`` for the duration of the ``with`` block."""
        fence = Fence(key)
        fences = self._open.setdefault(key, [])
        fences.append(fence)
        try:
            yield fence
        finally:
            fences.remove(fence)
            if not fences and self._open.get(key) is fences:
                del self._open[key]

    def supersede(self, key: str) -> None:
        """``key`` changed: every operation waiting on it must not install what it brings back."""
        fences = self._open.get(key)
        if fences:
            for fence in fences:
                fence.superseded = True

    def supersede_all(self) -> None:
        """Every key may have changed (a flush, a lost invalidation stream)."""
        for fences in self._open.values():
            for fence in fences:
                fence.superseded = True

    def __len__(self) -> int:
        return len(self._open)
