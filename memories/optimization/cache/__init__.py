"""Multi-level cache: L1 in memory, L2 on local disk, L3 in Redis (see ``manager``)."""

from memories.optimization.cache.manager import CacheManager
from memories.optimization.cache.stats import CacheStats, TierStats

__all__ = ["CacheManager", "CacheStats", "TierStats"]
