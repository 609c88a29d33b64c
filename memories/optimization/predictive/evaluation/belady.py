"""Belady's optimum for a count-based cache: on a miss, evict the resident key requested again furthest in the
future (or never). The new key is always admitted, as in libcachesim's ``Belady`` (no bypass), so the two
agree (``bench/cache_hit_ratio.py`` shows it)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from memories.errors import ConfigError

NEVER = 1 << 62


def next_uses(keys: Sequence[str]) -> list[int]:
    """For each position, the position of the next request of the same key (``NEVER`` if none)."""
    following = [NEVER] * len(keys)
    seen: dict[str, int] = {}
    for index in range(len(keys) - 1, -1, -1):
        following[index] = seen.get(keys[index], NEVER)
        seen[keys[index]] = index
    return following


def belady_hits(keys: Sequence[str], capacity: int) -> int:
    """Hits of Belady's optimal replacement over ``keys`` with ``capacity`` entries (ConfigError if < 1)."""
    if capacity < 1:
        raise ConfigError(f"capacity must be >= 1 entries, got {capacity}")
    following = next_uses(keys)
    resident: dict[str, int] = {}  # key -> its next use
    furthest: list[tuple[int, str]] = []  # (-next use, key); entries whose next use changed are stale
    hits = 0
    for index, key in enumerate(keys):
        if key in resident:
            hits += 1
        elif len(resident) >= capacity:
            while True:
                negative_use, victim = heapq.heappop(furthest)
                if resident.get(victim) == -negative_use:
                    del resident[victim]
                    break
        resident[key] = following[index]
        heapq.heappush(furthest, (-following[index], key))
    return hits
