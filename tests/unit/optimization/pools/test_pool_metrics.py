"""Prometheus exposition of pool statistics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from memories.optimization.pools import MemoryPool, ObjectPool
from memories.optimization.pools.metrics import MemoryPoolCollector, ObjectPoolCollector


async def test_memory_pool_metrics_follow_live_stats() -> None:
    async with MemoryPool(block_sizes=[4096, 16384], total_size="1MB") as pool:
        registry = CollectorRegistry()
        registry.register(MemoryPoolCollector(pool, name="frames"))
        await pool.allocate(size=1000)
        await pool.allocate(size=5000)
        text = generate_latest(registry).decode()
        assert 'memories_pool_blocks_in_use{pool="frames",size_class="4096"} 1.0' in text
        assert 'memories_pool_allocations_total{pool="frames",size_class="16384"} 1.0' in text
        assert 'memories_pool_internal_fragmentation_bytes{pool="frames",size_class="4096"} 3096.0' in text
        assert 'memories_pool_in_use_bytes{pool="frames"} 20480.0' in text
        assert "memories_pool_utilization_ratio" in text


async def test_object_pool_metrics_count_objects_by_state() -> None:
    pool = ObjectPool(object, initial_size=2, max_size=3)
    registry = CollectorRegistry()
    registry.register(ObjectPoolCollector(pool, name="clients"))
    async with pool.acquire():
        text = generate_latest(registry).decode()
    assert 'memories_object_pool_objects{pool="clients",state="in_use"} 1.0' in text
    assert 'memories_object_pool_objects{pool="clients",state="idle"} 1.0' in text
    assert 'memories_object_pool_created_total{pool="clients"} 2.0' in text
    assert 'memories_object_pool_wait_seconds_total{pool="clients"} 0.0' in text
    await pool.close()
