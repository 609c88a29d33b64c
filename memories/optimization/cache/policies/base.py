"""The one protocol every eviction policy implements.

A policy only orders keys; it never stores values or sizes of values beyond what it needs to
decide. The tier that owns the values asks :meth:`EvictionPolicy.choose_victim` which key to
evict, evicts it, then calls :meth:`EvictionPolicy.remove` with ``evicted=True``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar, Protocol


class EvictionPolicy(Protocol):
    """Decides which resident key leaves a tier next.

    ``entry_overhead_bytes`` is the measured memory (bytes) the policy's bookkeeping costs per
    resident key, used by the in-memory tier's byte accounting.
    """

    name: ClassVar[str]
    #: What it evicts, in a few words (the CRD and config docs list it).
    summary: ClassVar[str]
    entry_overhead_bytes: ClassVar[int]

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        """Track a newly admitted key of ``size`` bytes; ``low_priority`` marks a prefetch."""

    def record_access(self, key: Hashable) -> None:
        """Note a read of a resident key."""

    def record_replace(self, key: Hashable, size: int = 1) -> None:
        """Note that a resident key got a new value of ``size`` bytes: the same as :meth:`remove` then
        :meth:`record_insert` (a write is a fresh insertion), possibly done more cheaply."""

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        """Forget ``key``; ``evicted`` says it left because of :meth:`choose_victim`."""

    def choose_victim(self) -> Hashable | None:
        """Return the key to evict next (without forgetting it), or None when empty."""

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...


class ReplaceByReinsert:
    """``record_replace`` as :meth:`EvictionPolicy.remove` followed by :meth:`EvictionPolicy.record_insert`."""

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        raise NotImplementedError

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        raise NotImplementedError

    def record_replace(self, key: Hashable, size: int = 1) -> None:
        """See :meth:`EvictionPolicy.record_replace`."""
        self.remove(key)
        self.record_insert(key, size)
