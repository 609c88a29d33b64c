"""Block-level deduplication: the seed's ``Deduplicator`` and its result types.

``Deduplicator`` splits inputs into fixed-size blocks or FastCDC chunks, stores each distinct
block once (in memory or crash-safely in a directory) and rebuilds inputs from recipes.
"""

from memories.optimization.dedup.deduplicator import Deduplicator
from memories.optimization.dedup.metrics import DedupCollector, DedupMetrics
from memories.optimization.dedup.recipe import DedupRecipe

__all__ = ["DedupCollector", "DedupMetrics", "DedupRecipe", "Deduplicator"]
