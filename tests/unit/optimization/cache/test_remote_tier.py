"""L3 against a real redis-server: what it stores is what other Redis clients see, and the other way round."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis

from memories.errors import TierUnavailable, WrongValueType
from memories.local_processes import free_port
from memories.optimization.cache.remote.settings import Coherence, RemoteSettings, parse_url
from memories.optimization.cache.remote.tier import RemoteTier
from memories.optimization.cache.remote.values import MARKER, from_remote, to_remote
from tests.redis_servers import CuttingProxy, RedisServer


def settings_for(url: str, prefix: str, **options: object) -> RemoteSettings:
    parsed = parse_url(url)
    return RemoteSettings(addresses=parsed.addresses, database=parsed.database, prefix=prefix, **options)  # type: ignore[arg-type]


def new_tier(url: str, prefix: str, **options: object) -> RemoteTier:
    return RemoteTier(
        settings_for(url, prefix, **options),
        time.time,
        on_invalidate=lambda keys: None,
        on_coherence_lost=lambda _: None,
    )


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def tier(redis_url: str, prefix: str) -> AsyncIterator[RemoteTier]:
    tier = new_tier(redis_url, prefix)
    assert await tier.start()
    yield tier
    await tier.clear()
    await tier.close()


@pytest.fixture
def plain_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


async def test_set_then_get_returns_the_bytes(tier: RemoteTier) -> None:
    assert await tier.set("key", b"payload", None) == (True, None)
    stored = await tier.get("key")
    assert stored is not None and stored.payload == b"payload" and stored.expires_at is None
    assert tier.stats().hits == 1


async def test_bytes_are_stored_as_they_are_for_other_clients(
    tier: RemoteTier, plain_client: redis.Redis, prefix: str
) -> None:
    await tier.set("shared", b"\x00\xffraw", None)
    assert plain_client.get(f"{prefix}shared") == b"\x00\xffraw"
    plain_client.set(f"{prefix}theirs", b"written by redis-py")
    stored = await tier.get("theirs")
    assert stored is not None and from_remote(stored.payload) == b"written by redis-py"


def test_values_that_are_not_bytes_or_start_with_the_marker_round_trip() -> None:
    for value in ("text", {"a": [1, 2.5, None]}, 7, b"", MARKER + b"looks like ours", MARKER):
        assert from_remote(to_remote(value)) == value
    assert to_remote(b"plain") == b"plain"
    assert from_remote(MARKER + b"\x09not a packing") == MARKER + b"\x09not a packing"


async def test_ttl_is_set_with_px(tier: RemoteTier) -> None:
    await tier.set("key", b"v", time.time() + 60)
    presence = await tier.ttl("key")
    assert presence is not None and presence.expires_at is not None
    assert 55 < presence.expires_at - time.time() <= 60.01


async def test_expired_value_is_not_returned(tier: RemoteTier) -> None:
    await tier.set("key", b"v", time.time() + 0.05)
    await asyncio.sleep(0.1)
    assert await tier.get("key") is None


async def test_expire_at_none_persists(tier: RemoteTier) -> None:
    await tier.set("key", b"v", time.time() + 60)
    assert await tier.expire_at("key", None)
    presence = await tier.ttl("key")
    assert presence is not None and presence.expires_at is None
    assert not await tier.expire_at("absent", time.time() + 10)


async def test_conditional_sets_are_executed_by_redis(tier: RemoteTier) -> None:
    assert await tier.set("key", b"first", None, condition="NX") == (True, None)
    assert await tier.set("key", b"second", None, condition="NX") == (False, None)
    assert await tier.set("absent", b"x", None, condition="XX") == (False, None)
    assert await tier.set("key", b"third", None, condition="XX", get_previous=True) == (True, b"first")
    assert await tier.set("key", b"fourth", None, condition="NX", get_previous=True) == (False, b"third")
    stored = await tier.get("key")
    assert stored is not None and stored.payload == b"third"


async def test_increment_runs_incrby_and_keeps_the_expiry(
    tier: RemoteTier, plain_client: redis.Redis, prefix: str
) -> None:
    plain_client.set(f"{prefix}counter", b"41", ex=100)
    number, expires_at = await tier.increment("counter", 1)
    assert number == 42 and expires_at is not None and 95 < expires_at - time.time() <= 100.01
    plain_client.set(f"{prefix}text", b"not a number")
    with pytest.raises(WrongValueType, match="not an integer"):
        await tier.increment("text", 1)


async def test_clear_only_touches_own_prefix(tier: RemoteTier, redis_url: str) -> None:
    other = new_tier(redis_url, f"other:{uuid.uuid4().hex}:")
    await other.start()
    await other.set("key", b"theirs", None)
    for index in range(2500):  # more than one SCAN page
        await tier.set(f"key-{index}", b"ours", None)
    await tier.clear()
    assert await tier.get("key-7") is None and await tier.get("key-2499") is None
    assert await other.get("key") is not None
    await other.clear()
    await other.close()


async def test_bytes_key_with_invalid_utf8_round_trips(
    tier: RemoteTier, plain_client: redis.Redis, prefix: str
) -> None:
    key = b"\xff\xfe".decode("utf-8", "surrogateescape")
    await tier.set(key, b"v", None)
    assert plain_client.get(prefix.encode() + b"\xff\xfe") == b"v"


async def test_redis_down_raises_tier_unavailable() -> None:
    tier = new_tier(f"redis://127.0.0.1:{free_port()}/0", "test:", timeout_seconds=0.5)
    assert not await tier.start()
    with pytest.raises(TierUnavailable, match="cannot connect"):
        await tier.get("key")
    with pytest.raises(TierUnavailable):
        await tier.set("key", b"v", None)
    assert tier.stats().errors == 2
    await tier.close()


async def test_a_reply_that_arrives_slowly_but_steadily_is_not_a_dead_connection(
    redis_url: str, prefix: str, plain_client: redis.Redis
) -> None:
    """Liveness is "the node sends something", not "each reply within the timeout": a large reply trickling in (or
    replies read late because the agent's event loop is busy) must not fail the commands waiting for it."""
    value = bytes(range(256)) * 16  # 4 KiB: about 2.5 s at 64 bytes every 40 ms
    plain_client.set(f"{prefix}big", value)
    proxy = CuttingProxy(parse_url(redis_url).addresses[0].port, trickle=(64, 0.04))
    tier = new_tier(f"redis://127.0.0.1:{proxy.port}/0", prefix, timeout_seconds=0.5, coherence=Coherence.NONE)
    try:
        assert await tier.start()
        started = time.monotonic()
        found = await tier.get("big")
        assert time.monotonic() - started > 1.0  # the reply did take longer than the timeout
        assert found is not None and found.payload == value
    finally:
        await tier.close()
        proxy.close()


async def set_then(tier: RemoteTier, key: str, data: bytes, expires_at: float | None = None) -> Exception | None:
    """:meth:`RemoteTier.set_then`, awaited: what its callback was given."""
    outcome: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    assert tier.set_then(key, data, expires_at, outcome.set_result)
    return await outcome


async def test_set_then_stores_before_it_calls_back(tier: RemoteTier, plain_client: redis.Redis, prefix: str) -> None:
    assert await set_then(tier, "key", b"payload") is None
    assert plain_client.get(f"{prefix}key") == b"payload"
    large = bytes(range(256)) * 40  # over 4 KiB: encoded by encode_command
    assert await set_then(tier, "large", large, time.time() + 60) is None
    assert plain_client.get(f"{prefix}large") == large
    assert 0 < plain_client.pttl(f"{prefix}large") <= 60_000


async def test_set_then_declines_without_a_connection(redis_url: str, prefix: str) -> None:
    tier = new_tier(redis_url, prefix)
    assert not tier.set_then("key", b"v", None, lambda _error: None)  # not started: nothing sent
    await tier.close()


async def test_set_then_reports_a_connection_lost_before_the_reply(tier: RemoteTier) -> None:
    outcome: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    assert tier.set_then("key", b"v", None, outcome.set_result)
    (connection,) = tier.client._connections.values()
    connection.close()
    assert isinstance(await outcome, TierUnavailable)
    assert tier.stats().errors == 1


async def set_many_then(tier: RemoteTier, keys: list[str], datas: list[bytes]) -> list[Exception | str | None]:
    """:meth:`RemoteTier.set_many_then`, awaited: each SET's outcome (``"unreported"`` for one never reported),
    checking that each is reported once."""
    outcomes: list[Exception | str | None] = ["unreported"] * len(keys)
    reported = asyncio.Event()
    remaining = len(keys)

    def done(indexes: Sequence[int], errors: list[Exception | None]) -> None:
        nonlocal remaining
        for index, error in zip(indexes, errors, strict=True):
            assert outcomes[index] == "unreported", f"SET {index} reported twice"
            outcomes[index] = error
        remaining -= len(indexes)
        if not remaining:
            reported.set()

    assert tier.set_many_then(keys, datas, done)
    await asyncio.wait_for(reported.wait(), 10)
    return outcomes


async def test_set_many_then_stores_each_before_it_reports(
    tier: RemoteTier, plain_client: redis.Redis, prefix: str
) -> None:
    keys = [f"k{index}" for index in range(40)]
    datas = [bytes([index]) * (index * 300) for index in range(40)]  # up to 11.7 KiB: replies come in many reads
    assert await set_many_then(tier, keys, datas) == [None] * 40
    assert plain_client.mget([prefix + key for key in keys]) == datas


async def test_set_many_then_reports_each_refused_set_in_its_place(
    redis_url: str, plain_client: redis.Redis, prefix: str
) -> None:
    """An error reply among the +OKs (an ACL user that may write only ``ok:*``) is that SET's outcome alone."""
    user = f"writer-{uuid.uuid4().hex}"
    plain_client.execute_command("ACL", "SETUSER", user, "on", ">secret", f"~{prefix}ok:*", "+@all")
    tier = new_tier(redis_url, prefix, username=user, password="secret", coherence=Coherence.NONE)
    keys = ["ok:0", "no:1", "ok:2", "ok:3", "no:4", "ok:5"]
    try:
        assert await tier.start()
        outcomes = await set_many_then(tier, keys, [b"v%d" % index for index in range(6)])
        for key, outcome in zip(keys, outcomes, strict=True):
            if key.startswith("ok:"):
                assert outcome is None
            else:
                assert isinstance(outcome, TierUnavailable) and "NOPERM" in str(outcome), (
                    outcomes,
                    plain_client.mget([prefix + key for key in keys]),
                    plain_client.execute_command("CLIENT", "LIST"),
                )
        assert plain_client.mget([prefix + key for key in keys]) == [b"v0", None, b"v2", b"v3", None, b"v5"]
    finally:
        await tier.close()
        plain_client.execute_command("ACL", "DELUSER", user)
        plain_client.delete(*(prefix + key for key in keys))


async def test_set_many_then_reports_a_connection_lost_amid_the_replies(
    redis_url: str, plain_client: redis.Redis, prefix: str
) -> None:
    """The connection fails after some of the batch's replies arrived: those SETs are reported stored (and are),
    every later one fails with TierUnavailable (its outcome is unknown), each reported once."""
    proxy = CuttingProxy(parse_url(redis_url).addresses[0].port)
    tier = new_tier(f"redis://127.0.0.1:{proxy.port}/0", prefix, coherence=Coherence.NONE)
    try:
        assert await tier.start()
        keys = [f"k{index}" for index in range(10)]
        proxy.cut_next_reply()  # half the replies' bytes arrive, then the connection is closed
        outcomes = await set_many_then(tier, keys, [b"v%d" % index for index in range(10)])
        stored = outcomes.index(next(outcome for outcome in outcomes if outcome is not None))
        assert 0 < stored < len(keys) and proxy.cuts == 1
        assert all(isinstance(outcome, TierUnavailable) for outcome in outcomes[stored:])
        for index in range(stored):
            assert plain_client.get(f"{prefix}k{index}") == b"v%d" % index
        assert tier.stats().errors == len(keys) - stored
    finally:
        await tier.close()
        proxy.close()
        plain_client.delete(*(f"{prefix}k{index}" for index in range(10)))


async def test_set_many_then_sends_again_what_a_standalone_node_refused_for_now(tmp_path: Path, prefix: str) -> None:
    """A standalone node answers ``-MASTERDOWN`` (a replica cut off from its master, not serving stale data) to a
    batch sent joined in one buffer: each SET is sent again on its own until the node is a master again, then
    stored and reported once."""
    server = RedisServer(tmp_path, extra=["--replica-read-only", "no", "--replica-serve-stale-data", "no"]).start()
    admin = server.client()
    tier = new_tier(server.url, prefix, coherence=Coherence.NONE)
    keys = [f"k{index}" for index in range(6)]
    datas = [b"v%d" % index for index in range(6)]
    try:
        assert await tier.start() and tier.client.one_node
        admin.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # a master no one runs
        reporting = asyncio.ensure_future(set_many_then(tier, keys, datas))
        deadline = time.monotonic() + 10
        while tier.client.counters.redirections < len(keys):  # every SET was refused once
            assert time.monotonic() < deadline, f"refused {tier.client.counters.redirections} SETs"
            await asyncio.sleep(0.001)
        assert not reporting.done()
        admin.execute_command("REPLICAOF", "NO", "ONE")
        assert await reporting == [None] * len(keys)
        assert admin.mget([prefix + key for key in keys]) == datas
    finally:
        await tier.close()
        server.stop()
