"""Fences: how an operation that waits (a read from L2 or L3, a compute_fn, a write's round trip to L3) learns
that its key was written, deleted or invalidated meanwhile, so that what it carries back never replaces a newer
value.

An operation opens a fence on its key before it starts waiting and checks :attr:`Fence.superseded` before it
installs anything; every write, delete and invalidation of the key calls :meth:`Fences.supersede` first. No lock
is taken: the event loop runs one step at a time, and the check and the install happen in the same step.

Redis may execute two commands of this agent on one key in another order than they were issued: one retried after
a Cluster redirection, or sent once a reconnection completes, can reach Redis after one issued later and sent at
once. So a write watches its key with a :class:`WriteFence`: its value may become the local copy only when no write
of the key that began before it still waits (:attr:`WriteFence.earliest`), and closing it supersedes the reads of
the key that began after it and still wait (what they bring back may predate it).

The compiled ``_fences`` extension, when built (and not switched off by ``MEMORIES_PURE_PYTHON=1``), holds a
fence's attributes and runs :meth:`Fences.open_writes` and :meth:`Fences.close_writes` (the write-through SET's
steps) in C: :class:`PythonFenceState` and the Python bodies of those methods are its reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Self, cast

from memories.compiled import load_compiled


class PythonFenceState:
    """What every fence holds: the :class:`Fences` it belongs to, its ``key``, and ``superseded``, which turns True
    when the key changed after the fence was opened. The pure-Python base of :class:`Fence`, and the reference of
    the compiled one (``_fences.c``)."""

    __slots__ = ("_fences", "key", "superseded")

    def __init__(self, fences: Fences, key: str) -> None:
        self._fences = fences
        self.key = key
        self.superseded = False


#: ``open_writes(open, keys, fence_type, fences)`` and ``close_writes(open, fences)``, compiled (see ``_fences.c``).
_OpenWrites = Callable[[dict[str, "Waiting"], list[str], type["WriteFence"], "Fences"], list["WriteFence"]]
_CloseWrites = Callable[[dict[str, "Waiting"], list["WriteFence"]], list[bool]]
_compiled_open_writes: _OpenWrites | None = None
_compiled_close_writes: _CloseWrites | None = None

_fences = load_compiled("memories.optimization.cache._fences")
if TYPE_CHECKING or _fences is None:
    FenceState = PythonFenceState
else:
    FenceState = cast("type[PythonFenceState]", _fences.FenceState)  # the same attributes (test_fences.py)
    _compiled_open_writes = _fences.open_writes
    _compiled_close_writes = _fences.close_writes


class Fence(FenceState):
    """One waiting operation on ``key``; ``superseded`` turns True when the key changed after it was opened.

    A context manager: entering registers it with its :class:`Fences`, leaving removes it (a plain class rather
    than ``contextlib.contextmanager``: every L3 write opens one). An operation that goes on in a callback rather
    than a coroutine calls :meth:`open` and :meth:`close` itself."""

    __slots__ = ()

    #: Whether the operation is a write (see :class:`WriteFence`).
    writes = False

    def __enter__(self) -> Self:
        by_key = self._fences._open
        waiting = by_key.get(self.key)
        if waiting is None:
            by_key[self.key] = self
        elif isinstance(waiting, list):
            waiting.append(self)
        else:
            by_key[self.key] = [waiting, self]
        return self

    def __exit__(self, *_exception: object) -> None:
        by_key = self._fences._open
        waiting = by_key[self.key]
        if waiting is self:
            del by_key[self.key]
        else:
            assert isinstance(waiting, list), "the fence is not open"
            _leave(by_key, self.key, waiting, waiting.index(self))

    open = __enter__
    close = __exit__


class WriteFence(Fence):
    """The fence of a write of ``key`` to L3 (see the module docstring): closing it, however the write ended,
    supersedes the reads of the key that began after it and still wait."""

    __slots__ = ()

    writes = True

    @property
    def earliest(self) -> bool:
        """Whether no write of the key that began before this one still waits (the fence is open)."""
        waiting = self._fences._open[self.key]
        if waiting is self:
            return True
        if isinstance(waiting, list):
            for fence in waiting:
                if fence is self:
                    return True
                if fence.writes:
                    return False
        raise AssertionError("the fence is not open")

    def __exit__(self, *_exception: object) -> None:
        by_key = self._fences._open
        waiting = by_key[self.key]
        if waiting is self:
            del by_key[self.key]
            return
        assert isinstance(waiting, list), "the fence is not open"
        position = next(index for index, fence in enumerate(waiting) if fence is self)
        for later in waiting[position + 1 :]:
            if not later.writes:
                later.superseded = True
        _leave(by_key, self.key, waiting, position)

    close = __exit__


#: What waits on one key: its only fence, or the list of two or more in the order they were opened (a lone fence
#: needs no list of its own: nearly every write and read is alone on its key while it waits).
Waiting = Fence | list[Fence]


def _leave(by_key: dict[str, Waiting], key: str, waiting: list[Fence], position: int) -> None:
    """Take the fence at ``position`` out of ``waiting``, the fences of ``key``; one left stands alone again."""
    del waiting[position]
    if len(waiting) == 1:
        by_key[key] = waiting[0]


class Fences:
    """The open fences, by key (an entry exists only while some operation on that key is waiting)."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[str, Waiting] = {}

    def watch(self, key: str) -> Fence:
        """A fence on ``key``, open for the duration of a ``with`` block."""
        return Fence(self, key)

    def watch_write(self, key: str) -> WriteFence:
        """The fence of a write of ``key`` to L3, open for the duration of a ``with`` block."""
        return WriteFence(self, key)

    def open_writes(self, keys: Sequence[str]) -> list[WriteFence]:
        """Open the fence of a write of each of ``keys`` to L3, in order, each superseding what already waits on its
        key (a fence of this call included, for a key given twice): what :meth:`supersede` and then
        ``watch_write(key).open()`` of each key do, for a batch of writes. The caller closes each fence.

        When it raises part-way (a key whose hash or comparison raises, no memory left), none of its fences stays
        open: a fence left open with no write to close it would keep every later write of its key from becoming
        the local copy. What it marked superseded stays so (that only keeps a value from becoming a local copy)."""
        if _compiled_open_writes is not None and type(keys) is list:
            return _compiled_open_writes(self._open, keys, WriteFence, self)
        by_key = self._open
        opened: list[WriteFence] = []
        try:
            for key in keys:
                fence = WriteFence(self, key)
                opened.append(fence)
                waiting = by_key.get(key)
                if waiting is None:
                    by_key[key] = fence
                elif isinstance(waiting, list):
                    for earlier in waiting:
                        earlier.superseded = True
                    waiting.append(fence)
                else:
                    waiting.superseded = True
                    by_key[key] = [waiting, fence]
        except BaseException:
            # Latest first: each is then the last of its key's fences, so closing it supersedes nothing more.
            for fence in reversed(opened):
                with contextlib.suppress(Exception):  # the failing key's may raise again: the others still go
                    self.close_if_open(fence)
            raise
        return opened

    def close_writes(self, fences: Sequence[WriteFence]) -> list[bool]:
        """Close each of ``fences`` (of writes that L3 answered), in order; returns, for each, whether it was not
        superseded and :attr:`~WriteFence.earliest` just before it closed: whether its value may become the local
        copy, as far as the fences tell."""
        if _compiled_close_writes is not None and type(fences) is list:
            return _compiled_close_writes(self._open, fences)
        by_key = self._open
        unchanged: list[bool] = []
        for fence in fences:
            if by_key[fence.key] is fence:  # nearly always: nothing else waits on the key
                del by_key[fence.key]
                unchanged.append(not fence.superseded)
            else:
                unchanged.append(not fence.superseded and fence.earliest)
                fence.close()
        return unchanged

    def close_if_open(self, fence: Fence) -> None:
        """Close ``fence`` unless it is closed already (for a batch of writes abandoned, or opened, part-way)."""
        waiting = self._open.get(fence.key)
        if waiting is fence or (isinstance(waiting, list) and any(open_fence is fence for open_fence in waiting)):
            fence.close()

    def supersede(self, key: str) -> None:
        """``key`` changed: every operation waiting on it must not install what it brings back."""
        waiting = self._open.get(key)
        if waiting is None:
            return
        if isinstance(waiting, list):
            for fence in waiting:
                fence.superseded = True
        else:
            waiting.superseded = True

    def supersede_all(self) -> None:
        """Every key may have changed (a flush, a lost invalidation stream)."""
        for waiting in self._open.values():
            if isinstance(waiting, list):
                for fence in waiting:
                    fence.superseded = True
            else:
                waiting.superseded = True

    def __len__(self) -> int:
        return len(self._open)
