"""Prometheus export of a PredictiveCache's statistics, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from memories.optimization.predictive.predictive_cache import PredictiveCache


class PredictiveMetricsCollector(Collector):
    """Yields ``memories_predictive_*`` families labelled by model; register with a CollectorRegistry.

    Counters: ``memories_predictive_accesses_total``, ``_prefetch_requests_total``,
    ``_prefetched_total``, ``_prefetch_used_total``, ``_prefetch_skipped_total``. Gauges:
    ``memories_predictive_precision_ratio``, ``_coverage_ratio`` (0..1) and
    ``memories_predictive_inference_seconds{quantile="0.5"|"0.99"}`` once the LSTM has run.
    """

    def __init__(self, predictor: PredictiveCache) -> None:
        self._predictor = predictor

    def collect(self) -> Iterator[Metric]:
        stats = self._predictor.stats()
        counters = [
            ("accesses", "Accesses fed to the predictor.", stats.accesses),
            ("prefetch_requests", "Prefetches asked of the cache.", stats.prefetch_requests),
            ("prefetched", "Prefetches the cache admitted.", stats.prefetched),
            ("prefetch_used", "Prefetched keys accessed afterwards.", stats.prefetch_used),
            ("prefetch_skipped", "Predictions skipped by the rate, bandwidth or size budget.", stats.skipped_by_budget),
        ]
        for name, documentation, value in counters:
            family = CounterMetricFamily(f"memories_predictive_{name}", documentation, labels=["model"])
            family.add_metric([stats.model], float(value))
            yield family
        for name, documentation, ratio in (
            ("precision", "Prefetched keys used / prefetched keys.", stats.precision),
            ("coverage", "Accesses served by a prefetch / accesses.", stats.coverage),
        ):
            gauge = GaugeMetricFamily(f"memories_predictive_{name}_ratio", documentation, labels=["model"])
            gauge.add_metric([stats.model], ratio)
            yield gauge
        latency = GaugeMetricFamily(
            "memories_predictive_inference_seconds", "Latency of one prediction step.", labels=["model", "quantile"]
        )
        for quantile, milliseconds in (("0.5", stats.inference_p50_ms), ("0.99", stats.inference_p99_ms)):
            if milliseconds is not None:
                latency.add_metric([stats.model, quantile], milliseconds / 1000)
        yield latency
