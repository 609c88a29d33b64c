"""The small interface shared by the byte-storing tiers (L2 on disk, L3 in Redis).

L1 keeps Python objects and has a synchronous API for the sidecar's fast path
(:class:`memories.optimization.cache.memory_tier.MemoryTier`); lower tiers store the packed
bytes made by :mod:`memories.optimization.cache.codec` and are async. Each tier is tested alone.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from memories.optimization.cache.stats import TierStats


@dataclass(frozen=True)
class StoredValue:
    """Packed value bytes and the absolute expiry time (clock seconds; None = never). ``verified`` False marks a
    copy recovered from disk that L3, the source of truth, has not confirmed since the process started."""

    payload: bytes
    expires_at: float | None
    verified: bool = True


@dataclass(frozen=True)
class Presence:
    """A key is present in a tier; ``expires_at`` is its absolute expiry (None = never)."""

    expires_at: float | None


class Tier(Protocol):
    """A byte-storing cache tier."""

    name: str
    capacity_bytes: int

    async def get(self, key: str, *, count: bool = True) -> StoredValue | None:
        """Return the live value of ``key``, or None; ``count`` records a hit or miss (and a read)."""

    async def put(self, key: str, payload: bytes, expires_at: float | None) -> bool:
        """Store ``payload``; return False when the tier declined it (too large, unavailable)."""

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""

    async def presence(self, key: str) -> Presence | None:
        """Return whether ``key`` is live and its expiry, without counting a read."""

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        """Change the expiry of a live ``key`` (None = never); return whether it was present."""

    async def clear(self) -> None:
        """Remove every entry of this cache from the tier."""

    def iterate(self) -> AsyncIterator[str]:
        """Yield the keys currently stored (live or not yet noticed as expired)."""

    def stats(self) -> TierStats:
        """Return the tier's counters and sizes."""


def encode_expiry(expires_at: float | None) -> float:
    """Return ``expires_at`` as a float, NaN standing for "never" (for fixed-width headers)."""
    return math.nan if expires_at is None else expires_at


def decode_expiry(value: float) -> float | None:
    """Inverse of :func:`encode_expiry`."""
    return None if math.isnan(value) else value
