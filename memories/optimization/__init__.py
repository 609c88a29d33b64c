"""The engine: the public ``memories.optimization`` API.

Exactly the classes of the seed documentation and their result types are exported here.
Submodules are imported lazily on first attribute access, so ``import memories.optimization``
stays cheap and heavy dependencies (onnxruntime, imagecodecs) load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager, CacheStats, TierStats
    from memories.optimization.compression import CompressedData, CompressedImages, MemoryCompressor
    from memories.optimization.dedup import Deduplicator, DedupMetrics, DedupRecipe
    from memories.optimization.monitor import PerformanceMetrics, PerformanceMonitor
    from memories.optimization.pools import MemoryBlock, MemoryPool, ObjectPool
    from memories.optimization.predictive import PredictiveCache

_EXPORTS: dict[str, str] = {
    "MemoryCompressor": "memories.optimization.compression",
    "CompressedData": "memories.optimization.compression",
    "CompressedImages": "memories.optimization.compression",
    "Deduplicator": "memories.optimization.dedup",
    "DedupRecipe": "memories.optimization.dedup",
    "DedupMetrics": "memories.optimization.dedup",
    "CacheManager": "memories.optimization.cache",
    "CacheStats": "memories.optimization.cache",
    "TierStats": "memories.optimization.cache",
    "PredictiveCache": "memories.optimization.predictive",
    "ObjectPool": "memories.optimization.pools",
    "MemoryPool": "memories.optimization.pools",
    "MemoryBlock": "memories.optimization.pools",
    "PerformanceMonitor": "memories.optimization.monitor",
    "PerformanceMetrics": "memories.optimization.monitor",
}

__all__ = [
    "CacheManager",
    "CacheStats",
    "CompressedData",
    "CompressedImages",
    "DedupMetrics",
    "DedupRecipe",
    "Deduplicator",
    "MemoryBlock",
    "MemoryCompressor",
    "MemoryPool",
    "ObjectPool",
    "PerformanceMetrics",
    "PerformanceMonitor",
    "PredictiveCache",
    "TierStats",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'memories.optimization' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
