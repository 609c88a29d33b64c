"""The write-through SETs of every connection that reads in one turn of the event loop start as one batch
(``memories.sidecar.resp.set_batch``), against a real redis-server as L3: each connection gets its own replies in
order, a key twice in one turn splits the batch in order, and what the cache cannot start at once goes SET by SET
with the replies the SET command gives."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from memories.optimization.cache import CacheManager
from memories.optimization.cache.keys import MISSING
from memories.optimization.cache.remote.protocol import encode_command
from memories.optimization.cache.remote.settings import RemoteSettings
from memories.optimization.cache.write_batch import BatchDone
from memories.sidecar.resp.fast_path import load_collect_sets
from memories.sidecar.resp.set_batch import BATCH_BYTES, SetBatches
from memories.sidecar.resp.state import RespLimits
from tests.redis_servers import CuttingProxy, RedisServer, redis_server

pytestmark = pytest.mark.skipif(load_collect_sets() is None, reason="the compiled SET collector is not built")

LIMITS = RespLimits(max_value_size=1 << 20, max_key_length=1 << 10)
OK = b"+OK\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as running:
        yield running


@pytest.fixture
def prefix() -> str:
    return f"batches:{uuid.uuid4().hex[:8]}:"


async def agent_cache(server: RedisServer, prefix: str, **options: object) -> CacheManager:
    cache = CacheManager("1MB", l3=RemoteSettings.from_url(server.url, prefix=prefix), **options)  # type: ignore[arg-type]
    await cache.start()
    return cache


@pytest.fixture
async def cache(server: RedisServer, prefix: str) -> AsyncIterator[CacheManager]:
    made = await agent_cache(server, prefix)
    yield made
    await made.close()


class CountedBatches:
    """The keys of every ``set_many_then`` call the cache gets (the real call goes on)."""

    def __init__(self, cache: CacheManager) -> None:
        self.calls: list[list[str]] = []
        original = cache.set_many_then

        def counted(keys: list[str], values: list[bytes], done: BatchDone) -> bool:
            self.calls.append(list(keys))
            return original(keys, values, done)

        cache.set_many_then = counted  # type: ignore[method-assign]


def sets(*pairs: tuple[str, bytes]) -> bytes:
    return b"".join(encode_command("SET", key, value) for key, value in pairs)


def start(batches: SetBatches, data: bytes, taken: set[str] | None = None) -> asyncio.Future[bytes]:
    """Start ``data``'s SETs as a connection would; the future gets the connection's replies."""
    answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    started = batches.start(data, 0, 1 << 20, 1 << 20, LIMITS, set() if taken is None else taken, answer.set_result)
    assert started == (len(data), data.count(b"*3\r\n"))
    return answer


def set_batches(cache: CacheManager) -> SetBatches:
    collect = load_collect_sets()
    assert collect is not None
    return SetBatches(cache, collect)


def counted_set_batches(cache: CacheManager) -> tuple[CountedBatches, SetBatches]:
    """The batches of ``cache``'s connections, and the ``set_many_then`` calls they make."""
    return CountedBatches(cache), set_batches(cache)


async def test_the_sets_of_several_connections_in_one_turn_go_as_one_batch_each_answered_in_order(
    cache: CacheManager, server: RedisServer, prefix: str
) -> None:
    counted, batches = counted_set_batches(cache)
    first = start(batches, sets(("a", b"1"), ("b", b"2")))
    second = start(batches, sets(("c", b"3")))
    third = start(batches, sets(("d", b"4"), ("e", b"5"), ("f", b"6")))
    assert counted.calls == []  # they start at the end of the turn, together
    assert await first == OK * 2
    assert await second == OK
    assert await third == OK * 3
    assert counted.calls == [["a", "b", "c", "d", "e", "f"]]
    redis = server.client()
    assert [redis.get(f"{prefix}{key}") for key in "abcdef"] == [b"1", b"2", b"3", b"4", b"5", b"6"]
    assert [await cache.get(key) for key in "abcdef"] == [b"1", b"2", b"3", b"4", b"5", b"6"]


async def test_a_key_twice_in_one_turn_starts_the_batch_before_it_and_the_later_write_wins(
    cache: CacheManager, server: RedisServer, prefix: str
) -> None:
    counted, batches = counted_set_batches(cache)
    first = start(batches, sets(("k", b"first"), ("j", b"j")))
    assert counted.calls == []
    second = start(batches, sets(("k", b"second")))
    assert counted.calls == [["k", "j"]]  # started at once, before the batch that writes k again
    assert (await first, await second) == (OK * 2, OK)
    assert counted.calls == [["k", "j"], ["k"]]
    assert server.client().get(f"{prefix}k") == b"second"
    assert await cache.get("k") == b"second"


async def test_sets_the_cache_cannot_start_at_once_go_one_by_one_with_the_set_commands_replies(
    server: RedisServer, prefix: str
) -> None:
    cache = await agent_cache(server, prefix, default_ttl="60s")  # a default ttl: set() of each
    try:
        counted, batches = counted_set_batches(cache)
        first = start(batches, sets(("a", b"1"), ("b", b"2")))
        second = start(batches, sets(("c", b"3")))
        assert (await first, await second) == (OK * 2, OK)
        assert counted.calls == [["a", "b", "c"]]  # declined: each SET went through set()
        redis = server.client()
        assert [redis.get(f"{prefix}{key}") for key in "abc"] == [b"1", b"2", b"3"]
        assert 0 < redis.ttl(f"{prefix}a") <= 60
    finally:
        await cache.close()


async def test_a_set_refused_one_by_one_gets_its_error_and_the_others_are_stored(
    server: RedisServer, prefix: str
) -> None:
    cache = await agent_cache(server, prefix, default_ttl="60s")
    server.client().execute_command("ACL", "SETUSER", "default", "resetkeys", f"~{prefix}ok*", "+@all")
    try:
        answer = start(set_batches(cache), sets(("ok1", b"a"), ("refused", b"b"), ("ok2", b"c")))
        replies = await answer
    finally:
        server.client().execute_command("ACL", "SETUSER", "default", "allkeys")
        await cache.close()
    assert replies.startswith(OK + b"-ERR ") and replies.endswith(OK)
    assert b"NOPERM" in replies or b"permission" in replies.lower()
    assert replies.count(b"\r\n") == 3
    redis = server.client()
    assert (redis.get(f"{prefix}ok1"), redis.get(f"{prefix}refused"), redis.get(f"{prefix}ok2")) == (b"a", None, b"c")


async def test_the_keys_of_a_run_stay_taken_until_it_is_answered(cache: CacheManager) -> None:
    batches = set_batches(cache)
    taken: set[str] = set()
    answer = start(batches, sets(("a", b"1"), ("b", b"2")), taken)
    assert taken == {"a", "b"}
    assert await answer == OK * 2
    assert taken == set()


async def test_a_batch_that_reaches_its_size_starts_at_once_and_the_rest_of_the_turn_gathers_anew(
    cache: CacheManager, server: RedisServer, prefix: str
) -> None:
    counted, batches = counted_set_batches(cache)
    large = b"x" * (BATCH_BYTES // 2)
    first = start(batches, sets(("a", large)))
    assert counted.calls == []
    second = start(batches, sets(("b", large)))  # the batch now holds BATCH_BYTES of requests
    assert counted.calls == [["a", "b"]]
    third = start(batches, sets(("c", b"3")))
    assert counted.calls == [["a", "b"]]  # c waits for the end of the turn
    assert (await first, await second, await third) == (OK, OK, OK)
    assert counted.calls == [["a", "b"], ["c"]]
    assert server.client().get(f"{prefix}c") == b"3"


async def test_closing_cancels_the_sets_going_one_by_one_and_answers_the_rest_with_the_shut_down_error(
    server: RedisServer, prefix: str
) -> None:
    """The agent stops while a declined run goes through set() one SET at a time (each waits 0.5 s for Redis here):
    the connection gets the reply of the SET that finished and the shut-down error for the others, at once, and the
    run's keys are free again."""
    proxy = CuttingProxy(server.port, latency_seconds=0.5)
    l3 = RemoteSettings.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix)
    cache = CacheManager("1MB", l3=l3, default_ttl="60s")  # a default ttl: set() of each
    await cache.start()
    try:
        batches, taken = set_batches(cache), set[str]()
        answer = start(batches, sets(("a", b"1"), ("b", b"2"), ("c", b"3")), taken)
        redis, deadline = server.client(), time.monotonic() + 10
        while redis.get(f"{prefix}a") is None:
            assert time.monotonic() < deadline, "the first SET never reached Redis"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # its reply is back; the second SET waits out its 0.5 s
        batches.close()
        replies = await asyncio.wait_for(answer, 0.2)
    finally:
        await cache.close()
        proxy.close()
    assert replies.startswith(OK)
    assert replies[len(OK) :].split(b"\r\n")[:2] == [b"-ERR the agent shut down before L3 answered this SET"] * 2
    assert taken == set()
    assert redis.get(f"{prefix}c") is None


async def test_a_batch_whose_start_raises_answers_each_of_its_sets_with_the_error_later_and_frees_their_keys(
    cache: CacheManager, server: RedisServer, prefix: str
) -> None:
    """No memory left (or a defect) when a batch starts: every connection of the batch gets the error for each of its
    SETs, from a later callback (the batch that fills up starts inside its connection's start()), and may go on."""
    working = cache.set_many_then

    def failing(keys: list[str], values: list[bytes], done: BatchDone) -> bool:
        raise MemoryError

    cache.set_many_then = failing  # type: ignore[method-assign]
    batches = set_batches(cache)
    first_taken, full_taken = set[str](), set[str]()
    first = start(batches, sets(("a", b"1"), ("b", b"2")), first_taken)
    full = start(batches, sets(("c", b"x" * BATCH_BYTES)), full_taken)  # the batch is full: it starts at once
    assert not first.done() and not full.done()
    error = b"-ERR internal error: MemoryError\r\n"
    assert (await first, await full) == (error * 2, error)
    assert first_taken == full_taken == set()
    cache.set_many_then = working  # type: ignore[method-assign]
    assert await start(batches, sets(("a", b"again"))) == OK
    redis = server.client()
    assert (redis.get(f"{prefix}a"), redis.get(f"{prefix}c")) == (b"again", None)


async def test_a_batch_that_fails_after_it_was_sent_keeps_no_fence_open_and_its_replies_install_nothing(
    cache: CacheManager, server: RedisServer, prefix: str
) -> None:
    """Sending a batch that raises part-way: the SETs that did leave are answered by Redis, and nothing waits for
    them; a later write of the same keys becomes their local copy again (no fence of the failed batch is left)."""
    remote = cache._l3
    assert remote is not None
    sends = remote.set_many_then

    def sent_then_failed(keys: list[str], datas: list[bytes], done: Any) -> bool:
        assert sends(keys, datas, done)
        cache.write_to_l3_now()
        raise MemoryError

    remote.set_many_then = sent_then_failed  # type: ignore[method-assign]
    outcomes: list[list[Exception | None]] = []
    with pytest.raises(MemoryError):
        cache.set_many_then(["a", "b"], [b"1", b"2"], outcomes.append)
    assert len(cache._guard.fences) == 0
    redis, deadline = server.client(), time.monotonic() + 10
    while redis.get(f"{prefix}b") is None:
        assert time.monotonic() < deadline, "the sent SETs never reached Redis"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # their replies are in
    assert outcomes == []
    assert cache._local.current("a") is MISSING and cache._local.current("b") is MISSING
    del remote.set_many_then
    assert cache.set_many_then(["a"], [b"3"], outcomes.append)
    while not outcomes:
        assert time.monotonic() < deadline, "Redis never answered"
        await asyncio.sleep(0.01)
    assert outcomes == [[None]]
    assert cache._local.current("a") == (b"3", None)


async def test_a_batch_abandoned_while_its_replies_are_taken_answers_every_set_with_one_logged_error(
    cache: CacheManager, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """No memory left while L1 installs a batch's values: each connection gets the error for each of its SETs (Redis
    may have stored them: their outcome is unknown), the error is logged once, and the connections go on."""
    batches = set_batches(cache)
    with mock.patch.object(cache._local, "install_many", side_effect=MemoryError):
        first = start(batches, sets(("a", b"1"), ("b", b"2")))
        second = start(batches, sets(("c", b"3")))
        replies = await first, await second
    error = b"-ERR internal error: MemoryError\r\n"
    assert replies == (error * 2, error)
    assert [record.exc_info is not None for record in caplog.records if record.levelname == "ERROR"] == [True]
    assert len(cache._guard.fences) == 0
    assert await start(batches, sets(("a", b"again"), ("c", b"again"))) == OK * 2
    assert [await cache.get(key) for key in "ac"] == [b"again", b"again"]
