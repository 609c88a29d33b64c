"""Deduplication figures: the DedupMetrics snapshot and its Prometheus collector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memories.optimization.dedup.block_store import StoreTotals

BYTES_PER_GIB = 1024**3


@dataclass(frozen=True)
class DedupMetrics:
    """A snapshot of a Deduplicator's store.

    Sizes are bytes, except ``space_saved_gb``, which is GiB (1024**3 bytes, as the seed's
    "GB" sizes are 1024-based): ``(logical_bytes - physical_bytes) / 1024**3``.
    ``dedup_ratio`` is ``logical_bytes / physical_bytes`` (1.0 when nothing is stored).
    ``logical_bytes``/``total_blocks``: registered inputs, blocks counted with repeats;
    ``physical_bytes``/``unique_blocks``: distinct blocks held once in the store;
    ``processed_bytes``/``duplicate_bytes``: accumulated over ``process(track_savings=True)``
    calls, including inputs deleted since.
    """

    logical_bytes: int
    physical_bytes: int
    total_blocks: int
    unique_blocks: int
    inputs: int
    processed_bytes: int
    duplicate_bytes: int

    @classmethod
    def from_totals(cls, totals: StoreTotals) -> DedupMetrics:
        """Snapshot a store's running totals."""
        return cls(**asdict(totals))

    @property
    def space_saved_bytes(self) -> int:
        """Bytes not stored thanks to deduplication."""
        return self.logical_bytes - self.physical_bytes

    @property
    def space_saved_gb(self) -> float:
        """Space saved in GiB (1024**3 bytes)."""
        return self.space_saved_bytes / BYTES_PER_GIB

    @property
    def dedup_ratio(self) -> float:
        """Logical over physical bytes; 1.0 when the store is empty."""
        return self.logical_bytes / self.physical_bytes if self.physical_bytes else 1.0


class DedupCollector(Collector):
    """Prometheus collector reading a deduplicator's metrics at scrape time.

    ``read_metrics`` is usually ``deduplicator.get_metrics``; register with
    ``registry.register(DedupCollector(dedup.get_metrics, name="images"))``.
    """

    def __init__(self, read_metrics: Callable[[], DedupMetrics], *, name: str = "default") -> None:
        self._read_metrics = read_metrics
        self._name = name

    def collect(self) -> Iterator[Metric]:
        metrics = self._read_metrics()
        families: tuple[tuple[type[GaugeMetricFamily | CounterMetricFamily], str, str, float], ...] = (
            (GaugeMetricFamily, "memories_dedup_logical_bytes", "Bytes of registered inputs", metrics.logical_bytes),
            (
                GaugeMetricFamily,
                "memories_dedup_physical_bytes",
                "Bytes of distinct blocks stored",
                metrics.physical_bytes,
            ),
            (
                GaugeMetricFamily,
                "memories_dedup_blocks",
                "Blocks of registered inputs, with repeats",
                metrics.total_blocks,
            ),
            (GaugeMetricFamily, "memories_dedup_unique_blocks", "Distinct blocks stored", metrics.unique_blocks),
            (GaugeMetricFamily, "memories_dedup_inputs", "Registered inputs", metrics.inputs),
            (GaugeMetricFamily, "memories_dedup_ratio", "Logical over physical bytes", metrics.dedup_ratio),
            (
                CounterMetricFamily,
                "memories_dedup_processed_bytes",
                "Bytes processed, savings tracked",
                metrics.processed_bytes,
            ),
            (
                CounterMetricFamily,
                "memories_dedup_duplicate_bytes",
                "Processed bytes already stored",
                metrics.duplicate_bytes,
            ),
        )
        for family_type, metric_name, documentation, value in families:
            family = family_type(metric_name, documentation, labels=["deduplicator"])
            family.add_metric([self._name], value)
            yield family
