"""What must hear of a change of a key before anything reads that key again.

A write, a delete or an invalidation of a key (:meth:`KeyGuard.drop`, or :meth:`KeyGuard.supersede` when the
writer replaces the local copy itself) reaches, in one step: the fences of operations waiting on it (they will
install nothing), the lookup in flight for it (later readers start their own), the keys remembered as absent
from L3, and the local copies in L1 and L2.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from memories.optimization.cache.fences import Fence, Fences, WriteFence
from memories.optimization.cache.local_copies import LocalCopies
from memories.optimization.cache.single_flight import SingleFlight

#: How many keys known to be absent from L3 a cache remembers.
ABSENT_KEYS_LIMIT = 65536


class KeyGuard:
    """See the module docstring. ``remember_absence``: keep keys L3 said are absent (only with coherence tracking,
    where a write of one is invalidated like a copy). :attr:`trusted` (set once L3 exists) says whether local
    copies of L3 keys may be installed now; None means there is no L3."""

    def __init__(self, local: LocalCopies, *, remember_absence: bool) -> None:
        self.local = local
        self.fences = Fences()
        self.flights: SingleFlight[tuple[object, bool]] = SingleFlight()
        self.trusted: Callable[[], bool] | None = None
        #: Keys L3 said are absent, oldest first (misses answered without a round trip).
        self.absent: OrderedDict[str, None] | None = OrderedDict() if remember_absence else None
        #: Invalidated keys of which a local copy existed (and was dropped).
        self.invalidations_applied = 0

    def supersede(self, key: str) -> None:
        """``key`` is being written: operations waiting on it must not install, later readers start afresh."""
        self.fences.supersede(key)
        self.flights.forget(key)
        if self.absent:
            self.absent.pop(key, None)

    def drop(self, key: str) -> bool:
        """:meth:`supersede` and remove the local copies of ``key``; return whether there were any."""
        self.supersede(key)
        return self.local.drop(key)

    def discard(self, key: str) -> None:
        """:meth:`drop` for a write, which does not need to know whether there were copies."""
        self.supersede(key)
        self.local.discard(key)

    def open_writes(self, keys: Sequence[str]) -> list[WriteFence]:
        """Each of ``keys`` is being written to L3, in order: what :meth:`discard` and then opening a write fence on
        it do (see :meth:`Fences.open_writes <.fences.Fences.open_writes>`), for a batch of writes. Returns the
        fences, for :meth:`close_writes`."""
        self.flights.forget_many(keys)
        absent = self.absent
        if absent:
            for key in keys:
                absent.pop(key, None)
        self.local.discard_many(keys)
        return self.fences.open_writes(keys)

    def close_writes(self, fences: Sequence[WriteFence]) -> list[bool]:
        """Close the fences of writes that L3 answered (from :meth:`open_writes`), in order; returns, for each,
        :meth:`may_install_write` asked just before it closed."""
        if self.trusted is not None and not self.trusted():
            for fence in fences:
                fence.close()
            return [False] * len(fences)
        return self.fences.close_writes(fences)

    def drop_all(self, reason: str = "") -> None:
        """Every key may have changed (a flush, a lost or silent invalidation stream)."""
        self.fences.supersede_all()
        self.flights.forget_all()
        self.local.drop_all()
        if self.absent is not None:
            self.absent.clear()

    def invalidated(self, keys: list[str] | None) -> None:
        """Redis says another client changed ``keys`` (None: possibly every key)."""
        if keys is None:
            self.drop_all()
            return
        for key in keys:
            self.invalidations_applied += self.drop(key)

    def may_install(self, fence: Fence) -> bool:
        """Whether what an operation brings back may become the local copy: nothing changed its key meanwhile and
        (with L3) local copies are trusted now."""
        return not fence.superseded and (self.trusted is None or self.trusted())

    def may_install_write(self, fence: WriteFence) -> bool:
        """Whether the value a write stored in L3 may become the local copy, asked once L3 answered it and before
        ``fence`` (the write's own) is closed: as :meth:`may_install`, and only when no write of the key that began
        before it still waits (that one may reach Redis after this one, see :mod:`.fences`)."""
        return fence.earliest and self.may_install(fence)

    def remember_absent(self, key: str) -> None:
        """L3 said ``key`` is absent (the caller checked :meth:`may_install`)."""
        absent = self.absent
        if absent is not None:
            absent[key] = None
            if len(absent) > ABSENT_KEYS_LIMIT:
                absent.popitem(last=False)
