"""Counters of a compressor, read by :mod:`memories.optimization.compression.metrics` at scrape time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

OPERATIONS = ("compress", "decompress")


@dataclass(frozen=True)
class OperationStats:
    """Totals of one operation kind: completed calls, bytes in and out, wall-clock seconds."""

    operations: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class CompressionStats:
    """A snapshot of a compressor's counters, per operation ("compress", "decompress").

    ``corrupt_inputs`` counts decompressions rejected with CorruptDataError.
    """

    operations: dict[str, OperationStats] = field(default_factory=dict)
    corrupt_inputs: int = 0


class StatsRecorder:
    """Thread-safe accumulation of :class:`CompressionStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = {operation: OperationStats() for operation in OPERATIONS}
        self._corrupt_inputs = 0

    def record(self, operation: str, input_bytes: int, output_bytes: int, seconds: float) -> None:
        """Add one completed operation."""
        with self._lock:
            old = self._totals[operation]
            self._totals[operation] = OperationStats(
                old.operations + 1,
                old.input_bytes + input_bytes,
                old.output_bytes + output_bytes,
                old.seconds + seconds,
            )

    def record_corrupt_input(self) -> None:
        """Count one input rejected as corrupt."""
        with self._lock:
            self._corrupt_inputs += 1

    def snapshot(self) -> CompressionStats:
        """Return the current totals."""
        with self._lock:
            return CompressionStats(dict(self._totals), self._corrupt_inputs)
