"""L3: packed values in a (possibly shared) Redis, under a key prefix.

Keys are ``<prefix><key>``; expiry uses Redis' own clock (``SET … PX``), so every process
sharing the Redis agrees on it. Redis enforces its own memory limit (configure ``maxmemory``
there): ``capacity_bytes`` is only the largest value this tier accepts, and ``bytes_used`` and
``entries`` are not tracked (reported as 0).

Redis being down or slow never breaks a cache operation: each failure is counted in
``errors``, logged (once per outage, at WARNING; recovery at INFO) and treated as a miss or a
skipped write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import redis.asyncio
import redis.exceptions

from memories.optimization.cache.config import DEFAULT_PREFIX
from memories.optimization.cache.stats import TierCounters, TierStats
from memories.optimization.cache.tier import Presence, StoredValue

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 1.0
"""Connect and read timeout of each Redis command, seconds: a stuck Redis costs at most this."""
_FAILURES = (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)
_Result = TypeVar("_Result")


class RedisTier:
    """A Redis-backed tier; see the module docstring. ``clock`` returns seconds (for expiry times)."""

    name = "l3"

    def __init__(self, url: str, capacity_bytes: int, clock: Callable[[], float], *, prefix: str = DEFAULT_PREFIX):
        self.url = url
        self.capacity_bytes = capacity_bytes
        self.prefix = prefix
        self.counters = TierCounters()
        self._clock = clock
        self._healthy = True
        self._client = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS
        )

    async def connect(self) -> bool:
        """Check that Redis answers; returns False (logged, counted) when it does not."""
        return await self._attempt(self._client.ping(), False) is not False

    async def close(self) -> None:
        await self._client.aclose()

    async def _attempt(self, operation: Awaitable[_Result], default: _Result) -> _Result:
        try:
            result = await operation
        except _FAILURES as error:
            self.counters.errors += 1
            if self._healthy:
                logger.warning("l3: redis at %s failed (%s); treating L3 as a miss until it recovers", self.url, error)
            self._healthy = False
            return default
        if not self._healthy:
            logger.info("l3: redis at %s answers again", self.url)
            self._healthy = True
        return result

    def _name(self, key: str) -> bytes:
        return (self.prefix + key).encode("utf-8", "surrogateescape")

    def _expires_at(self, milliseconds_left: int) -> float | None:
        return None if milliseconds_left < 0 else self._clock() + milliseconds_left / 1000

    async def get(self, key: str, *, count: bool = True) -> StoredValue | None:
        async def read() -> tuple[bytes | None, int]:
            pipeline = self._client.pipeline(transaction=False)
            pipeline.get(self._name(key))
            pipeline.pttl(self._name(key))
            payload, milliseconds_left = await pipeline.execute()
            return payload, int(milliseconds_left)

        payload, milliseconds_left = await self._attempt(read(), (None, -2))
        if count:
            self.counters.hits += payload is not None
            self.counters.misses += payload is None
        if payload is None:
            return None
        return StoredValue(bytes(payload), self._expires_at(milliseconds_left))

    async def put(self, key: str, payload: bytes, expires_at: float | None) -> bool:
        if len(payload) > self.capacity_bytes:
            return False
        milliseconds: int | None = None
        if expires_at is not None:
            milliseconds = int((expires_at - self._clock()) * 1000)
            if milliseconds <= 0:
                return False
        return bool(await self._attempt(self._client.set(self._name(key), payload, px=milliseconds), False))

    async def delete(self, key: str) -> bool:
        return bool(await self._attempt(self._client.delete(self._name(key)), 0))

    async def presence(self, key: str) -> Presence | None:
        milliseconds_left = int(await self._attempt(self._client.pttl(self._name(key)), -2))
        return None if milliseconds_left == -2 else Presence(self._expires_at(milliseconds_left))

    async def set_expiry(self, key: str, expires_at: float | None) -> bool:
        if expires_at is None:
            pipeline = self._client.pipeline(transaction=False)
            pipeline.exists(self._name(key))
            pipeline.persist(self._name(key))
            existed, _removed = await self._attempt(pipeline.execute(), [0, 0])
            return bool(existed)
        milliseconds = max(1, int((expires_at - self._clock()) * 1000))
        return bool(await self._attempt(self._client.pexpire(self._name(key), milliseconds), False))

    async def clear(self) -> None:
        """Delete every key under this tier's prefix (other users of the Redis are untouched)."""

        async def unlink_all() -> None:
            batch: list[bytes] = []
            async for name in self._client.scan_iter(match=_glob_escape(self.prefix) + "*", count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                await self._client.unlink(*batch)

        await self._attempt(unlink_all(), None)

    async def iterate(self) -> AsyncIterator[str]:
        """Yield the keys under this tier's prefix (stops quietly if Redis fails)."""
        try:
            async for name in self._client.scan_iter(match=_glob_escape(self.prefix) + "*", count=1000):
                yield name[len(self.prefix.encode()) :].decode("utf-8", "surrogateescape")
        except _FAILURES as error:
            self.counters.errors += 1
            logger.warning("l3: listing keys failed: %s", error)

    def stats(self) -> TierStats:
        return self.counters.snapshot(self.name, 0, self.capacity_bytes, 0)


def _glob_escape(text: str) -> str:
    return "".join("\\" + character if character in "*?[]\\" else character for character in text)
