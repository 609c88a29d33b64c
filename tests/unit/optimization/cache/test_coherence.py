"""Coherence across agents sharing one real redis-server: a write anywhere under the prefix — by another agent or by
any other Redis client — removes the other agents' local copies; a lost or silent invalidation stream removes all
of them. Each test runs its own redis-server, so it can be restarted, paused and have its clients killed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from memories.errors import TierUnavailable
from memories.optimization.cache import CacheManager
from memories.optimization.cache.remote.settings import Coherence, RemoteSettings
from memories.optimization.cache.write_batch import BatchDone
from tests.redis_servers import CuttingProxy, RedisServer, redis_server

STALENESS = 0.5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis", extra=["--appendonly", "yes", "--appendfsync", "always"]) as running:
        yield running


@pytest.fixture
def prefix() -> str:
    return f"coherence:{uuid.uuid4().hex[:8]}:"


Agents = Callable[..., Awaitable[CacheManager]]


@pytest.fixture
async def agent(server: RedisServer, prefix: str, tmp_path: Path) -> AsyncIterator[Agents]:
    """Factory of agents (CacheManagers) sharing ``server`` as L3 under ``prefix``."""
    made: list[CacheManager] = []

    async def make(
        *, l2: bool = False, l2_directory: str = "", coherence: Coherence = Coherence.TRACKING, **options: object
    ) -> CacheManager:
        settings = RemoteSettings.from_url(
            server.url, prefix=prefix, coherence=coherence, max_staleness_seconds=STALENESS, timeout_seconds=0.5
        )
        directory = tmp_path / (l2_directory or f"l2-{len(made)}")
        cache = CacheManager(
            "1MB",
            "8MB" if l2 else None,
            l2_path=directory if l2 else None,
            l3=settings,
            **options,  # type: ignore[arg-type]
        )
        await cache.start()
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


async def eventually(condition: Callable[[], Awaitable[bool] | bool], seconds: float = 2.0) -> float:
    """Seconds until ``condition`` holds (polled every millisecond); fails after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return time.monotonic() - started
        await asyncio.sleep(0.001)
    raise AssertionError(f"condition not met within {seconds}s")


def in_l1(cache: CacheManager, key: str) -> object:
    return cache.get_nowait(key)


def trusted(cache: CacheManager) -> bool:
    """Whether the cache keeps local copies of L3 keys now."""
    return cache._l3 is not None and cache._l3.client.trusted()


async def test_a_write_on_one_agent_invalidates_the_others_copy(agent: Agents) -> None:
    writer, reader = await agent(), await agent()
    await writer.set("k", b"v1")
    assert await reader.get("k") == b"v1"
    assert in_l1(reader, "k") == b"v1"  # the reader keeps a local copy
    await writer.set("k", b"v2")
    await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING)
    assert await reader.get("k") == b"v2"
    await writer.delete("k")
    await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING)
    assert await reader.get("k") is None


async def test_an_agent_keeps_its_own_writes_without_invalidating_itself(agent: Agents) -> None:
    cache = await agent()
    await cache.set("k", b"mine")
    await asyncio.sleep(0.05)  # an invalidation of our own write would have arrived by now (NOLOOP: none comes)
    assert in_l1(cache, "k") == b"mine"
    assert cache._l3 is not None and cache._l3.client.counters.invalidation_messages == 0


async def test_a_write_by_another_redis_client_invalidates_l1_and_l2(
    agent: Agents, server: RedisServer, prefix: str
) -> None:
    cache = await agent(l2=True)
    await cache.set("small", b"s")
    await cache.set("large", b"L" * 2_000_000)  # too large for L1: its local copy is in L2
    assert await cache.get("large") == b"L" * 2_000_000
    outsider = server.client()
    outsider.set(f"{prefix}small", b"from redis-cli")
    outsider.set(f"{prefix}large", b"also changed")
    await eventually(lambda: in_l1(cache, "small") is CacheManager.MISSING)
    assert await cache.get("small") == b"from redis-cli"
    assert await cache.get("large") == b"also changed"


async def test_flushall_by_another_client_drops_every_local_copy(agent: Agents, server: RedisServer) -> None:
    cache = await agent()
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    server.client().flushall()
    await eventually(lambda: in_l1(cache, "a") is CacheManager.MISSING and in_l1(cache, "b") is CacheManager.MISSING)
    assert await cache.get("a") is None


async def test_client_kill_drops_local_copies_and_reconnects(agent: Agents, server: RedisServer, prefix: str) -> None:
    cache = await agent()
    await cache.set("k", b"before")
    server.client().execute_command("CLIENT", "KILL", "SKIPME", "no", "TYPE", "normal")
    await eventually(lambda: in_l1(cache, "k") is CacheManager.MISSING)
    server.client().set(f"{prefix}k", b"written while we were away")
    assert await cache.get("k") == b"written while we were away"
    await eventually(lambda: trusted(cache))
    assert await cache.get("k") == b"written while we were away"
    assert in_l1(cache, "k") == b"written while we were away"  # copies are kept again once coherent


async def test_a_silent_redis_costs_every_local_copy_within_the_bound(agent: Agents, server: RedisServer) -> None:
    cache = await agent()
    await cache.set("k", b"v")
    assert in_l1(cache, "k") == b"v"
    server.pause()  # accepts, never answers: no invalidation could reach us
    try:
        dropped_after = await eventually(lambda: in_l1(cache, "k") is CacheManager.MISSING, seconds=STALENESS * 2)
        assert dropped_after <= STALENESS
        with pytest.raises(TierUnavailable):
            await cache.get("k")
    finally:
        server.resume()
    await eventually(lambda: trusted(cache), seconds=5)
    assert await cache.get("k") == b"v"


async def test_a_redis_restart_drops_local_copies_and_values_written_meanwhile_are_read(
    agent: Agents, server: RedisServer, prefix: str
) -> None:
    reader = await agent()
    await reader.set("k", b"v1")
    assert reader._l3 is not None
    lost = reader._l3.client.counters.connections_lost
    await asyncio.to_thread(server.restart)  # the agent's loop keeps running meanwhile; AOF: v1 survives
    server.client().set(f"{prefix}k", b"v2")
    await eventually(lambda: reader._l3 is not None and reader._l3.client.counters.connections_lost > lost)
    assert in_l1(reader, "k") is CacheManager.MISSING
    await eventually(lambda: trusted(reader), seconds=5)
    assert await reader.get("k") == b"v2"


async def test_a_stalled_event_loop_never_serves_a_copy_past_the_bound(
    agent: Agents, server: RedisServer, prefix: str
) -> None:
    cache = await agent()
    await cache.set("k", b"v1")
    server.client().set(f"{prefix}k", b"v2")  # the invalidation is on its way...
    time.sleep(STALENESS * 1.2)  # noqa: ASYNC251  # ...but the loop is blocked for longer than the bound
    assert in_l1(cache, "k") is CacheManager.MISSING  # the first read after the stall refuses the copy


async def test_increments_from_several_agents_are_never_lost(agent: Agents) -> None:
    agents = [await agent() for _ in range(3)]
    await asyncio.gather(*(cache.increment("counter") for cache in agents for _ in range(50)))
    assert await agents[0].get("counter") == b"150"
    assert {await cache.get("counter") for cache in agents} == {b"150"}


async def test_set_if_absent_wins_on_exactly_one_agent(agent: Agents) -> None:
    agents = [await agent() for _ in range(4)]
    results = await asyncio.gather(
        *(cache.set("lock", f"owner-{index}".encode(), condition="absent") for index, cache in enumerate(agents))
    )
    assert sorted(results) == [False, False, False, True]


async def test_without_tracking_copies_are_not_invalidated(agent: Agents) -> None:
    writer, reader = await agent(), await agent(coherence=Coherence.NONE)
    await writer.set("k", b"v1")
    assert await reader.get("k") == b"v1"
    await writer.set("k", b"v2")
    await asyncio.sleep(0.05)
    assert in_l1(reader, "k") == b"v1"  # documented: coherence none serves local copies until they go


async def test_l2_reopened_warm_is_confirmed_against_redis_before_it_is_served(
    agent: Agents, server: RedisServer, prefix: str
) -> None:
    first = await agent(l2=True, l2_directory="warm")
    for key in ("same", "changed", "gone"):
        await first.set(key, key.encode() * 20_000)
    await first.close()  # L1 is written to L2 on the way out
    outsider = server.client()
    outsider.set(f"{prefix}changed", b"changed while the agent was away")
    outsider.delete(f"{prefix}gone")
    restarted = await agent(l2=True, l2_directory="warm")
    assert restarted.stats().tiers["l2"].entries == 3
    assert await restarted.get("same") == b"same" * 20_000
    assert await restarted.get("changed") == b"changed while the agent was away"
    assert await restarted.get("gone") is None
    status = restarted.remote_status()
    assert status is not None and (status.recovered_kept, status.recovered_dropped) == (1, 2)
    assert restarted.stats().tiers["l3"].hits == 1  # only the changed key was fetched whole


async def test_a_key_known_absent_is_found_once_another_agent_or_client_writes_it(
    agent: Agents, server: RedisServer, prefix: str
) -> None:
    writer, reader = await agent(), await agent()
    assert await reader.get("new") is None
    assert reader.lookup_nowait("new") is None  # remembered as absent: answered without a round trip
    await writer.set("new", b"now it exists")
    await eventually(lambda: reader.lookup_nowait("new") is CacheManager.MISSING)
    assert await reader.get("new") == b"now it exists"
    assert await reader.get("other") is None
    server.client().set(f"{prefix}other", b"by redis-py")
    await eventually(lambda: reader.lookup_nowait("other") is CacheManager.MISSING)
    assert await reader.get("other") == b"by redis-py"
    await reader.set("mine", b"v")  # a write of its own clears what it knew too
    assert await reader.delete("mine")
    assert await reader.get("mine") is None and await reader.exists("mine") is False


async def test_a_reply_cut_off_mid_way_is_an_error_never_wrong_bytes(server: RedisServer, prefix: str) -> None:
    proxy = CuttingProxy(server.port)
    try:
        settings = RemoteSettings.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, timeout_seconds=0.5)
        cache = CacheManager("1MB", l3=settings)
        await cache.start()
        server.client().set(f"{prefix}big", b"B" * 100_000)
        proxy.cut_next_reply()
        with pytest.raises(TierUnavailable):
            await cache.get("big")
        assert proxy.cuts == 1
        assert await eventually(lambda: trusted(cache), seconds=5) >= 0
        assert await cache.get("big") == b"B" * 100_000  # reconnected: the whole value, or nothing
        await cache.close()
    finally:
        proxy.close()


#: A way to start writes without suspending, shaped like :meth:`CacheManager.set_many_then`: True when every pair
#: started, and the callback then gets one outcome per pair, in order; False when it cannot start at once.
StartWrites = Callable[[CacheManager, list[str], list[bytes], BatchDone], bool]


def set_then_each(cache: CacheManager, keys: list[str], values: list[bytes], done: BatchDone) -> bool:
    """:meth:`CacheManager.set_then` of each pair, in order, as a :data:`StartWrites` (the pairs started before one
    that declines stay started: declining tests pass one pair, or one that declines first)."""
    loop = asyncio.get_running_loop()
    outcomes: list[asyncio.Future[Exception | None]] = []
    for key, value in zip(keys, values, strict=True):
        outcomes.append(loop.create_future())
        if not cache.set_then(key, value, outcomes[-1].set_result):
            return False
    asyncio.gather(*outcomes).add_done_callback(lambda gathered: done(gathered.result()))
    return True


#: Runs a test once for each way to start writes without suspending.
EACH_WAY_TO_START_WRITES = pytest.mark.parametrize(
    "start_writes", [set_then_each, CacheManager.set_many_then], ids=["set_then", "set_many_then"]
)


def started(
    start_writes: StartWrites, cache: CacheManager, pairs: list[tuple[str, bytes]]
) -> asyncio.Future[list[Exception | None]]:
    """The outcomes of ``pairs`` written through ``start_writes``, which must start them at once."""
    outcomes: asyncio.Future[list[Exception | None]] = asyncio.get_running_loop().create_future()
    keys, values = [key for key, _ in pairs], [value for _, value in pairs]
    assert start_writes(cache, keys, values, outcomes.set_result)
    return outcomes


def ignore_outcomes(_outcomes: list[Exception | None]) -> None:
    """A callback for writes that are expected not to start."""


@EACH_WAY_TO_START_WRITES
async def test_a_write_started_without_suspending_is_kept_and_invalidates_the_others(
    agent: Agents, server: RedisServer, prefix: str, start_writes: StartWrites
) -> None:
    writer, reader = await agent(), await agent()
    await writer.set("k", b"v1")
    assert await reader.get("k") == b"v1"
    assert await started(start_writes, writer, [("k", b"v2")]) == [None]
    assert server.client().get(f"{prefix}k") == b"v2"  # in Redis once acknowledged
    assert in_l1(writer, "k") == b"v2"  # and the writer's local copy
    await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING)
    assert await reader.get("k") == b"v2"


@EACH_WAY_TO_START_WRITES
async def test_writes_started_together_keep_pipeline_order_the_last_of_a_key_wins(
    agent: Agents, server: RedisServer, prefix: str, start_writes: StartWrites
) -> None:
    writer, reader = await agent(), await agent()
    await writer.set("k", b"v0")
    assert await reader.get("k") == b"v0"
    outcomes = [  # started together, not awaited in between
        started(start_writes, writer, batch)
        for batch in ([("k", b"v1"), ("other", b"o1")], [("k", b"v2")], [("other", b"o2"), ("k", b"v3")])
    ]
    assert [await outcome for outcome in outcomes] == [[None, None], [None], [None, None]]
    assert server.client().get(f"{prefix}k") == b"v3"  # Redis ran them in order
    assert server.client().get(f"{prefix}other") == b"o2"
    assert in_l1(writer, "k") == b"v3"  # and the local copies are the last values, not an earlier one
    assert in_l1(writer, "other") == b"o2"
    await eventually(lambda: in_l1(reader, "k") is CacheManager.MISSING)  # the other agent's copy is invalidated
    assert await reader.get("k") == b"v3"


@EACH_WAY_TO_START_WRITES
async def test_a_write_without_suspending_never_replaces_a_later_write(
    agent: Agents, start_writes: StartWrites
) -> None:
    cache = await agent()
    outcomes = started(start_writes, cache, [("k", b"first"), ("j", b"j1")])
    await cache.set("k", b"second")  # sent after the first: Redis and the local copy end with it
    assert await outcomes == [None, None]
    assert in_l1(cache, "k") == b"second"
    assert in_l1(cache, "j") == b"j1"
    assert await cache.get("k") == b"second"


@EACH_WAY_TO_START_WRITES
async def test_writes_without_suspending_report_each_outcome_in_order(
    agent: Agents, server: RedisServer, prefix: str, start_writes: StartWrites
) -> None:
    cache = await agent()
    server.client().execute_command("ACL", "SETUSER", "default", "resetkeys", f"~{prefix}ok*", "+@all")
    try:  # Redis refuses the SET of a key outside the user's key patterns, and runs the others
        outcomes = await started(start_writes, cache, [("ok1", b"a"), ("refused", b"b"), ("ok2", b"c")])
    finally:
        server.client().execute_command("ACL", "SETUSER", "default", "allkeys")
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], TierUnavailable)
    assert in_l1(cache, "ok1") == b"a" and in_l1(cache, "ok2") == b"c"
    assert in_l1(cache, "refused") is CacheManager.MISSING


@EACH_WAY_TO_START_WRITES
async def test_a_write_without_suspending_that_loses_its_connection_keeps_no_copy(
    agent: Agents, start_writes: StartWrites
) -> None:
    cache = await agent()
    await cache.set("k", b"old")
    outcomes = started(start_writes, cache, [("k", b"new"), ("j", b"j")])
    assert in_l1(cache, "k") is CacheManager.MISSING  # the old copy went when the write started
    assert cache._l3 is not None
    (connection,) = cache._l3.client._connections.values()
    connection.close()
    assert all(isinstance(outcome, TierUnavailable) for outcome in await outcomes)
    assert in_l1(cache, "k") is CacheManager.MISSING and in_l1(cache, "j") is CacheManager.MISSING


@EACH_WAY_TO_START_WRITES
async def test_a_write_without_suspending_waits_for_l2_like_set(agent: Agents, start_writes: StartWrites) -> None:
    """A value that lands in L2 is acknowledged once L2's writes waiting in memory are back under their limit."""
    cache = await agent(l2=True)
    assert cache._local.l2 is not None
    cache._local.l2.pending_limit_bytes = 0
    value = b"x" * 2_000_000  # larger than L1: its local copy goes to L2
    assert await started(start_writes, cache, [("large", value), ("small", b"s")]) == [None, None]
    assert cache._local.settled
    assert await cache.get("large") == value


@EACH_WAY_TO_START_WRITES
async def test_a_write_without_suspending_declines_what_only_set_can_do(
    agent: Agents, start_writes: StartWrites
) -> None:
    assert not start_writes(CacheManager("1MB"), ["k"], [b"v"], ignore_outcomes)  # not started
    without_l3 = CacheManager("1MB")
    await without_l3.start()
    try:
        assert not start_writes(without_l3, ["k"], [b"v"], ignore_outcomes)  # no L3: set_nowait or set
    finally:
        await without_l3.close()
    cache = await agent()
    assert cache._l3 is not None
    (connection,) = cache._l3.client._connections.values()
    connection.close()
    assert not start_writes(cache, ["k", "j"], [b"v", b"w"], ignore_outcomes)  # L3 not connected now
    assert cache._guard.fences._open == {}  # nothing started, no fence left open
    await cache.close()
    assert not start_writes(cache, ["k"], [b"v"], ignore_outcomes)  # closed: set() raises CacheError


async def test_set_many_then_declines_what_needs_a_set_of_each(agent: Agents) -> None:
    with_ttl = await agent(default_ttl="60s")
    assert not with_ttl.set_many_then(["k"], [b"v"], ignore_outcomes)  # a default ttl: set() of each
    cache = await agent()
    assert not cache.set_many_then(["k", "j", "k"], [b"1", b"2", b"3"], ignore_outcomes)  # a key twice
