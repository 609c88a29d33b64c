from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from memories.optimization.predictive import PredictiveCache
from memories.optimization.predictive.serving.metrics import PredictiveMetricsCollector


def test_collector_reads_stats_at_scrape_time() -> None:
    predictor = PredictiveCache(model="markov", features=[])
    registry = CollectorRegistry()
    registry.register(PredictiveMetricsCollector(predictor))
    predictor.record_access("a")
    predictor.record_access("b")
    text = generate_latest(registry).decode()
    assert 'memories_predictive_accesses_total{model="markov"} 2.0' in text
    assert "memories_predictive_precision_ratio" in text
