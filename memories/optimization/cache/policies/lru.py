"""Least recently used: the compiled order (``_lru.c``) when built, else an OrderedDict with the same behaviour.

``MEMORIES_PURE_PYTHON=1`` in the environment selects the OrderedDict version even when the extension is built.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable
from typing import ClassVar


class PythonLruPolicy:
    """Evicts the key read or written longest ago (the pure-Python implementation, and the reference for the compiled one).

    A low-priority (prefetched) key is inserted at the cold end: unless it is read before the
    next eviction, it is the first to go.
    """

    name: ClassVar[str] = "lru"
    summary: ClassVar[str] = "least recently used"
    entry_overhead_bytes: ClassVar[int] = 120

    def __init__(self) -> None:
        self._order: OrderedDict[Hashable, None] = OrderedDict()

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        self._order[key] = None
        self._order.move_to_end(key, last=not low_priority)

    def record_access(self, key: Hashable) -> None:
        self._order.move_to_end(key)

    def record_replace(self, key: Hashable, size: int = 1) -> None:
        self._order.move_to_end(key)

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        self._order.pop(key, None)

    def choose_victim(self) -> Hashable | None:
        return next(iter(self._order), None)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: object) -> bool:
        return key in self._order


try:
    from memories.optimization.cache.policies._lru import LruOrder
except ImportError:  # a source tree that was never installed: the OrderedDict version serves
    LruPolicy: type[PythonLruPolicy] | type[CompiledLruPolicy] = PythonLruPolicy
else:

    class CompiledLruPolicy(LruOrder):
        """Evicts the key read or written longest ago; the recency order lives in compact C arrays.

        Behaves exactly as :class:`PythonLruPolicy` (a property test replays random operations through
        both) but a read of a random key touches a few cache lines instead of an OrderedDict's six.
        """

        __slots__ = ()
        name: ClassVar[str] = "lru"
        summary: ClassVar[str] = PythonLruPolicy.summary
        entry_overhead_bytes: ClassVar[int] = 120
        #: The in-memory tier may keep its entries in this order's payloads (one hash table instead of two).
        indexes_entries: ClassVar[bool] = True

    LruPolicy = PythonLruPolicy if os.environ.get("MEMORIES_PURE_PYTHON") else CompiledLruPolicy
