"""Counters and sizes reported by the cache, per tier and overall."""

from __future__ import annotations

from dataclasses import dataclass, field


def _ratio(hits: int, misses: int) -> float:
    lookups = hits + misses
    return hits / lookups if lookups else 0.0


@dataclass(frozen=True)
class TierStats:
    """One tier: ``hits``/``misses`` of lookups that reached it, ``evictions`` made to respect
    its budget, ``bytes_used`` of ``capacity_bytes`` (bytes), ``entries`` resident, ``errors``
    (failed operations of a remote tier, each treated as a miss)."""

    name: str
    hits: int
    misses: int
    evictions: int
    bytes_used: int
    capacity_bytes: int
    entries: int
    errors: int = 0

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses), 0.0 before any lookup."""
        return _ratio(self.hits, self.misses)


@dataclass
class TierCounters:
    """Mutable counters a tier keeps; :meth:`snapshot` turns them into a :class:`TierStats`."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    errors: int = 0

    def snapshot(self, name: str, bytes_used: int, capacity_bytes: int, entries: int) -> TierStats:
        return TierStats(name, self.hits, self.misses, self.evictions, bytes_used, capacity_bytes, entries, self.errors)


@dataclass(frozen=True)
class CacheStats:
    """The whole cache: ``hits``/``misses`` count ``get`` calls served by any tier or not."""

    hits: int
    misses: int
    tiers: dict[str, TierStats] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses) over ``get`` calls, 0.0 before any."""
        return _ratio(self.hits, self.misses)


@dataclass(frozen=True)
class RemoteStatus:
    """L3's state for metrics and probes: ``mode`` (standalone, cluster, sentinel), ``coherence`` (tracking,
    none), the nodes that own keys now and how many have an open connection, whether local copies are trusted,
    the last error seen (None once Redis answers again), and counters: invalidation messages and the keys they
    named, keys whose local copies an invalidation removed, L2 entries recovered at start that L3 confirmed
    (kept) or not (dropped), flushes of every local copy, redirections (MOVED/ASK/retries), connections opened and
    lost."""

    mode: str
    coherence: str
    nodes: tuple[str, ...]
    connected_nodes: int
    trusted: bool
    last_error: str | None
    invalidation_messages: int
    invalidated_keys: int
    invalidations_applied: int
    recovered_kept: int
    recovered_dropped: int
    flushes: int
    redirections: int
    connections_opened: int
    connections_lost: int
