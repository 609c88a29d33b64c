"""Prometheus collector for a compressor: reads its ``stats()`` at scrape time (no global metric objects).

Exposed families, each labelled ``operation="compress"|"decompress"``:
``memories_compression_input_bytes_total``, ``memories_compression_output_bytes_total``,
``memories_compression_operations_total``, ``memories_compression_seconds_total``; and
``memories_compression_corrupt_inputs_total`` (decompressions rejected as corrupt).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from memories.optimization.compression.stats import CompressionStats


class HasCompressionStats(Protocol):
    """Anything with a compressor's ``stats()`` (a MemoryCompressor, or a test double)."""

    def stats(self) -> CompressionStats: ...


class CompressionCollector(Collector):
    """Register with ``registry.register(CompressionCollector(compressor))``."""

    def __init__(self, source: HasCompressionStats) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        stats = self._source.stats()
        families = {
            "input_bytes": CounterMetricFamily(
                "memories_compression_input_bytes", "Bytes given to the operation.", labels=["operation"]
            ),
            "output_bytes": CounterMetricFamily(
                "memories_compression_output_bytes", "Bytes produced by the operation.", labels=["operation"]
            ),
            "operations": CounterMetricFamily(
                "memories_compression_operations", "Completed operations.", labels=["operation"]
            ),
            "seconds": CounterMetricFamily(
                "memories_compression_seconds",
                "Wall-clock seconds spent in completed operations.",
                labels=["operation"],
            ),
        }
        for operation, totals in sorted(stats.operations.items()):
            for name, family in families.items():
                family.add_metric([operation], float(getattr(totals, name)))
        yield from families.values()
        yield CounterMetricFamily(
            "memories_compression_corrupt_inputs",
            "Decompressions rejected because the input was corrupt or truncated.",
            value=stats.corrupt_inputs,
        )
