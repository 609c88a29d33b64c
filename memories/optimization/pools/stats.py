"""Snapshots of pool usage: MemoryPool (sizes in bytes) and ObjectPool (counts, seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class _Usage(Protocol):
    @property
    def bytes_in_use(self) -> int: ...

    @property
    def requested_bytes(self) -> int: ...


class _InternalFragmentation:
    """Capacity of live blocks minus the bytes that were asked for."""

    __slots__ = ()

    @property
    def internal_fragmentation_bytes(self: _Usage) -> int:
        return self.bytes_in_use - self.requested_bytes

    @property
    def internal_fragmentation_ratio(self: _Usage) -> float:
        """Wasted fraction of the bytes in use (0.0 when nothing is in use)."""
        return (self.bytes_in_use - self.requested_bytes) / self.bytes_in_use if self.bytes_in_use else 0.0


@dataclass(frozen=True, slots=True)
class SizeClassStats(_InternalFragmentation):
    """Usage of one size class.

    Internal fragmentation is what live blocks waste: their capacity minus the bytes
    that were asked for.
    """

    size_class: int
    total_blocks: int
    blocks_in_use: int
    requested_bytes: int
    high_water_blocks: int
    allocations: int
    releases: int
    exhausted: int
    """Allocations that found this class full (raised, or had to wait)."""
    waiters: int

    @property
    def capacity_bytes(self) -> int:
        return self.total_blocks * self.size_class

    @property
    def bytes_in_use(self) -> int:
        return self.blocks_in_use * self.size_class


@dataclass(frozen=True, slots=True)
class MemoryPoolStats(_InternalFragmentation):
    """Usage of a whole pool; ``classes`` lists every size class in ascending order."""

    arena_bytes: int
    capacity_bytes: int
    """Bytes that blocks can occupy (the arena minus alignment and rounding leftovers)."""
    bytes_in_use: int
    requested_bytes: int
    blocks_in_use: int
    high_water_bytes: int
    """Most bytes (block capacities) ever in use at once."""
    allocations: int
    releases: int
    classes: tuple[SizeClassStats, ...]

    @classmethod
    def from_classes(
        cls, classes: tuple[SizeClassStats, ...], *, arena_bytes: int, high_water_bytes: int
    ) -> MemoryPoolStats:
        """Total the per-class figures."""
        totals = [0] * 6
        for size_class in classes:
            for position, value in enumerate(
                (
                    size_class.capacity_bytes,
                    size_class.bytes_in_use,
                    size_class.requested_bytes,
                    size_class.blocks_in_use,
                    size_class.allocations,
                    size_class.releases,
                )
            ):
                totals[position] += value
        capacity, in_use, requested, blocks, allocations, releases = totals
        return cls(
            arena_bytes=arena_bytes,
            capacity_bytes=capacity,
            bytes_in_use=in_use,
            requested_bytes=requested,
            blocks_in_use=blocks,
            high_water_bytes=high_water_bytes,
            allocations=allocations,
            releases=releases,
            classes=classes,
        )

    @property
    def utilization(self) -> float:
        """Bytes in use / capacity bytes, 0.0 to 1.0."""
        return self.bytes_in_use / self.capacity_bytes if self.capacity_bytes else 0.0


@dataclass(frozen=True, slots=True)
class ObjectPoolStats:
    """A snapshot of an :class:`ObjectPool` (counts of objects; seconds)."""

    size: int
    """Objects alive or being created (idle + in use + under construction)."""
    idle: int
    in_use: int
    waiters: int
    max_size: int
    min_size: int
    created: int
    destroyed: int
    acquisitions: int
    timeouts: int
    validation_failures: int
    wait_seconds_total: float
    """Total time acquirers spent queued for a busy pool."""
