"""Fences: how an operation that waits (a read from L2 or L3, a compute_fn, a write's round trip to L3) learns
that its key was written, deleted or invalidated meanwhile, so that what it carries back never replaces a newer
value.

An operation opens a fence on its key before it starts waiting and checks :attr:`Fence.superseded` before it
installs anything; every write, delete and invalidation of the key calls :meth:`Fences.supersede` first. No lock
is taken: the event loop runs one step at a time, and the check and the install happen in the same step.
"""

from __future__ import annotations


class Fence:
    """One waiting operation on ``key``; ``superseded`` turns True when the key changed after it was opened.

    A context manager: entering registers it with its :class:`Fences`, leaving removes it (a plain class rather
    than ``contextlib.contextmanager``: every L3 write opens one). An operation that goes on in a callback rather
    than a coroutine calls :meth:`open` and :meth:`close` itself."""

    __slots__ = ("_fences", "key", "superseded")

    def __init__(self, fences: Fences, key: str) -> None:
        self._fences = fences
        self.key = key
        self.superseded = False

    def __enter__(self) -> Fence:
        self._fences._open.setdefault(self.key, []).append(self)
        return self

    def __exit__(self, *_exception: object) -> None:
        by_key = self._fences._open
        fences = by_key[self.key]
        if len(fences) == 1:
            del by_key[self.key]
        else:
            fences.remove(self)

    open = __enter__
    close = __exit__


class Fences:
    """The open fences, by key (an entry exists only while some operation on that key is waiting)."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[str, list[Fence]] = {}

    def watch(self, key: str) -> Fence:
        """A fence on ``key``, open for the duration of a ``with`` block."""
        return Fence(self, key)

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
