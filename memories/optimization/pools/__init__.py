"""Pools: reusable objects (:class:`ObjectPool`) and fixed-size memory blocks (:class:`MemoryPool`)."""

from memories.optimization.pools.memory_pool import MemoryBlock, MemoryPool
from memories.optimization.pools.object_pool import ObjectPool
from memories.optimization.pools.stats import MemoryPoolStats, ObjectPoolStats, SizeClassStats

__all__ = ["MemoryBlock", "MemoryPool", "MemoryPoolStats", "ObjectPool", "ObjectPoolStats", "SizeClassStats"]
