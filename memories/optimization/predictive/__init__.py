"""Predictive prefetching: learn access patterns (LSTM in numpy, served by onnxruntime, or a
Markov baseline) and prefetch the likely next keys into a :class:`CacheManager`.

Layout: :mod:`.serving` is what the agent runs (load a model file, predict, prefetch);
:mod:`.training` learns and exports models (never imported by the agent); :mod:`.evaluation`
replays traces offline. :class:`PredictiveCache` (the seed's API) composes them.
"""

from memories.optimization.predictive.predictive_cache import PredictiveCache
from memories.optimization.predictive.records import AccessRecord
from memories.optimization.predictive.reports import TrainingReport
from memories.optimization.predictive.serving.prefetcher import PredictorStats

__all__ = ["AccessRecord", "PredictiveCache", "PredictorStats", "TrainingReport"]
