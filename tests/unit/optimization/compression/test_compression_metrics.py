"""The Prometheus collector reads a compressor's stats at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from memories.errors import CorruptDataError
from memories.optimization.compression import MemoryCompressor
from memories.optimization.compression.metrics import CompressionCollector


async def test_collector_exposes_byte_and_operation_totals() -> None:
    compressor = MemoryCompressor()
    registry = CollectorRegistry()
    registry.register(CompressionCollector(compressor))
    data = b"sensor reading 42\n" * 1000
    compressed = await compressor.compress(data)
    await compressor.decompress(compressed)
    assert registry.get_sample_value("memories_compression_input_bytes_total", {"operation": "compress"}) == len(data)
    assert (
        registry.get_sample_value("memories_compression_output_bytes_total", {"operation": "compress"})
        == compressed.compressed_size
    )
    assert registry.get_sample_value("memories_compression_operations_total", {"operation": "decompress"}) == 1
    seconds = registry.get_sample_value("memories_compression_seconds_total", {"operation": "compress"})
    assert seconds is not None and seconds > 0


async def test_collector_counts_corrupt_inputs() -> None:
    compressor = MemoryCompressor()
    registry = CollectorRegistry()
    registry.register(CompressionCollector(compressor))
    with pytest.raises(CorruptDataError):
        await compressor.decompress(b"not a container")
    assert registry.get_sample_value("memories_compression_corrupt_inputs_total") == 1
    assert b"memories_compression_corrupt_inputs_total 1.0" in generate_latest(registry)


def test_two_collectors_for_two_compressors_coexist() -> None:
    registry = CollectorRegistry()
    registry.register(CompressionCollector(MemoryCompressor()))
    other = CollectorRegistry()
    other.register(CompressionCollector(MemoryCompressor()))
    assert registry.get_sample_value("memories_compression_operations_total", {"operation": "compress"}) == 0
