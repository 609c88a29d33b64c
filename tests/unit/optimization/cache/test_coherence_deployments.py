"""Coherence on Redis as it is deployed at scale: a 3-master Redis Cluster (tracking per node, MOVED/ASK while a
slot migrates) and a master + replica behind three Sentinels (master discovery, a failover)."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from memories.optimization.cache import CacheManager
from memories.optimization.cache.remote.settings import RedisMode, RemoteSettings
from tests.redis_servers import RedisCluster, SentinelGroup, redis_cluster, sentinel_group
from tests.unit.optimization.cache.test_coherence import eventually, in_l1, trusted


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def not_in_l1(cache: CacheManager, key: str) -> bool:
    return in_l1(cache, key) is CacheManager.MISSING


async def agents_for(url: str, count: int, **options: Any) -> list[CacheManager]:
    prefix = f"deploy:{uuid.uuid4().hex[:6]}:"
    caches = []
    for _ in range(count):
        settings = RemoteSettings.from_url(
            url, prefix=prefix, max_staleness_seconds=1.0, timeout_seconds=1.0, **options
        )
        cache = CacheManager("1MB", l3=settings)
        await cache.start()
        caches.append(cache)
    return caches


@pytest.fixture
async def cluster_agents(cluster: RedisCluster) -> AsyncIterator[list[CacheManager]]:
    caches = await agents_for(cluster.url, 2, mode=RedisMode.CLUSTER)
    yield caches
    for cache in caches:
        await cache.close()


async def test_cluster_keys_on_every_node_are_invalidated_across_agents(
    cluster_agents: list[CacheManager], cluster: RedisCluster
) -> None:
    writer, reader = cluster_agents
    keys = [f"key-{index}" for index in range(60)]
    prefix = writer.settings.remote.prefix if writer.settings.remote else ""
    owners = {cluster.owner_of(f"{prefix}{key}".encode()).port for key in keys}
    assert len(owners) == 3, "the keys should spread over the three masters"
    for key in keys:
        await writer.set(key, b"v1")
        assert await reader.get(key) == b"v1"
    for key in keys:
        await writer.set(key, b"v2")
    for key in keys:
        await eventually(functools.partial(not_in_l1, reader, key))
        assert await reader.get(key) == b"v2"


async def test_cluster_slot_migration_while_serving(cluster_agents: list[CacheManager], cluster: RedisCluster) -> None:
    writer, reader = cluster_agents
    assert writer.settings.remote is not None
    key = "migrating"
    name = f"{writer.settings.remote.prefix}{key}".encode()
    await writer.set(key, b"before")
    assert await reader.get(key) == b"before"
    source = cluster.owner_of(name)
    target = next(node for node in cluster.nodes if node.port != source.port)
    await asyncio.to_thread(cluster.migrate_slot, key_slot(name), source, target)
    assert await reader.get(key) == b"before"  # its copy, or the migrated value found through MOVED
    await writer.set(key, b"after")  # MOVED: the writer learns the new owner
    await eventually(lambda: in_l1(reader, key) is CacheManager.MISSING or in_l1(reader, key) == b"after")
    assert await reader.get(key) == b"after"
    assert cluster.owner_of(name).port == target.port
    await asyncio.to_thread(cluster.migrate_slot, key_slot(name), target, source)  # leave the cluster as it was


async def test_cluster_node_connection_killed_drops_copies(
    cluster_agents: list[CacheManager], cluster: RedisCluster
) -> None:
    writer, reader = cluster_agents
    await writer.set("k", b"v")
    assert await reader.get("k") == b"v"
    cluster.nodes[1].client().execute_command("CLIENT", "KILL", "SKIPME", "no", "TYPE", "normal")
    await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING)
    await eventually(lambda: trusted(reader), seconds=5)
    assert await reader.get("k") == b"v"


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path / "sentinel") as group:
        yield group


async def test_sentinel_discovery_and_failover(sentinels: SentinelGroup) -> None:
    writer, reader = await agents_for(sentinels.url, 2, mode=RedisMode.SENTINEL, master_name=sentinels.name)
    try:
        await writer.set("k", b"v1")
        assert await reader.get("k") == b"v1"
        old_master = sentinels.current_master_port()
        await asyncio.to_thread(sentinels.failover)
        assert sentinels.current_master_port() != old_master
        await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING, seconds=10)  # the switch drops copies

        async def write_after_failover() -> bool:
            try:
                await writer.set("k", b"v2")
            except Exception:
                return False
            return True

        await eventually(write_after_failover, seconds=15)
        await eventually(lambda: trusted(reader), seconds=10)
        assert await reader.get("k") == b"v2"
        await writer.set("k", b"v3")
        await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING)
        assert await reader.get("k") == b"v3"
    finally:
        await writer.close()
        await reader.close()


async def test_a_write_without_suspending_follows_moved(
    cluster_agents: list[CacheManager], cluster: RedisCluster
) -> None:
    writer, _reader = cluster_agents
    assert writer.settings.remote is not None
    key = "moving-callback"
    name = f"{writer.settings.remote.prefix}{key}".encode()
    await writer.set(key, b"before")
    source = cluster.owner_of(name)
    target = next(node for node in cluster.nodes if node.port != source.port)
    await asyncio.to_thread(cluster.migrate_slot, key_slot(name), source, target)
    assert writer._l3 is not None
    redirections = writer._l3.client.counters.redirections
    outcome: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    assert writer.set_then(key, b"after", outcome.set_result)  # sent to the old owner, which answers MOVED
    assert await outcome is None
    assert writer._l3.client.counters.redirections == redirections + 1
    assert target.client().get(name) == b"after"
    assert await writer.get(key) == b"after"
    await asyncio.to_thread(cluster.migrate_slot, key_slot(name), target, source)  # leave the cluster as it was


async def test_a_batch_of_writes_across_nodes_follows_moved_for_its_moved_key(
    cluster_agents: list[CacheManager], cluster: RedisCluster
) -> None:
    """A pipeline's SETs (set_many_then) go to their nodes in one batch per node; the one whose slot moved is
    redirected alone, and every SET is reported once, stored where its slot lives now."""
    writer, reader = cluster_agents
    assert writer.settings.remote is not None and writer._l3 is not None
    prefix = writer.settings.remote.prefix
    keys = [f"batch-{index}" for index in range(12)]
    names = [f"{prefix}{key}".encode() for key in keys]
    assert len({cluster.owner_of(name).port for name in names}) == 3  # a batch for each node
    for key in keys:
        await writer.set(key, b"before")
    source = cluster.owner_of(names[0])
    target = next(node for node in cluster.nodes if node.port != source.port)
    await asyncio.to_thread(cluster.migrate_slot, key_slot(names[0]), source, target)
    redirections = writer._l3.client.counters.redirections
    reported: asyncio.Future[list[Exception | None]] = asyncio.get_running_loop().create_future()
    values = [b"after-%d" % index for index in range(len(keys))]
    assert writer.set_many_then(keys, values, reported.set_result)
    assert await asyncio.wait_for(reported, 10) == [None] * len(keys)
    moved = sum(key_slot(name) == key_slot(names[0]) for name in names)  # 1 but by a rare chance
    assert writer._l3.client.counters.redirections == redirections + moved
    assert target.client().get(names[0]) == values[0]
    for key, name, value in zip(keys, names, values, strict=True):
        assert cluster.owner_of(name).client().get(name) == value
        assert await writer.get(key) == value and await reader.get(key) == value
    await asyncio.to_thread(cluster.migrate_slot, key_slot(names[0]), target, source)  # leave the cluster as it was
