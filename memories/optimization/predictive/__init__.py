"""Predictive prefetching: learn access patterns (LSTM in numpy, served by onnxruntime, or a
Markov baseline) and prefetch the likely next keys into a :class:`CacheManager`."""

from memories.optimization.predictive.prefetcher import PredictiveCache, PredictorStats, TrainingReport
from memories.optimization.predictive.records import AccessRecord

__all__ = ["AccessRecord", "PredictiveCache", "PredictorStats", "TrainingReport"]
