"""L3 against a real redis-server, and behaviour when Redis is down."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from memories.local_processes import free_port
from memories.optimization.cache.redis_tier import RedisTier


@pytest.fixture
async def tier(redis_url: str) -> AsyncIterator[RedisTier]:
    tier = RedisTier(redis_url, 1 << 20, time.time, prefix=f"test:{uuid.uuid4().hex}:")
    yield tier
    await tier.clear()
    await tier.close()


async def test_put_then_get_returns_payload(tier: RedisTier) -> None:
    assert await tier.put("key", b"payload", None)
    stored = await tier.get("key")
    assert stored is not None and stored.payload == b"payload" and stored.expires_at is None
    assert tier.stats().hits == 1


async def test_ttl_is_set_with_px(tier: RedisTier) -> None:
    await tier.put("key", b"v", time.time() + 60)
    presence = await tier.presence("key")
    assert presence is not None and presence.expires_at is not None
    assert 55 < presence.expires_at - time.time() <= 60


async def test_expired_value_is_not_returned(tier: RedisTier) -> None:
    await tier.put("key", b"v", time.time() + 0.05)
    await asyncio.sleep(0.1)
    assert await tier.get("key") is None


async def test_set_expiry_none_persists(tier: RedisTier) -> None:
    await tier.put("key", b"v", time.time() + 60)
    assert await tier.set_expiry("key", None)
    presence = await tier.presence("key")
    assert presence is not None and presence.expires_at is None


async def test_clear_only_touches_own_prefix(tier: RedisTier, redis_url: str) -> None:
    other = RedisTier(redis_url, 1 << 20, time.time, prefix=f"other:{uuid.uuid4().hex}:")
    await other.put("key", b"theirs", None)
    await tier.put("key", b"ours", None)
    await tier.clear()
    assert await tier.get("key") is None
    assert await other.get("key") is not None
    await other.clear()
    await other.close()


async def test_bytes_key_with_invalid_utf8_round_trips(tier: RedisTier) -> None:
    key = b"\xff\xfe".decode("utf-8", "surrogateescape")
    await tier.put(key, b"v", None)
    assert [name async for name in tier.iterate()] == [key]


async def test_redis_down_is_a_miss_not_a_crash() -> None:
    nothing_listens = free_port()
    tier = RedisTier(f"redis://127.0.0.1:{nothing_listens}/0", 1 << 20, time.time)
    assert not await tier.connect()
    assert await tier.get("key") is None
    assert not await tier.put("key", b"v", None)
    assert not await tier.delete("key")
    assert tier.stats().errors == 4
    await tier.close()
