"""Which Redis node serves a key: one server, the master a set of Sentinels names, or a Redis Cluster slot map.

A router only answers "where" and relearns when told the answer went stale (a connection lost, ``-MOVED``,
``-READONLY`` after a failover); :class:`memories.optimization.cache.remote.client.RemoteClient` owns the
connections. Sentinel discovery uses redis-py's Sentinel client; the cluster's slot map comes from ``CLUSTER SLOTS``
and hashes keys with redis-py's ``key_slot``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from memories.errors import TierUnavailable
from memories.optimization.cache.remote.protocol import Reply, ReplyError, encode_command
from memories.optimization.cache.remote.settings import NodeAddress, RemoteSettings

logger = logging.getLogger(__name__)

#: Sends one encoded command to a node (over a connection without tracking) and returns its reply.
AskNode = Callable[[NodeAddress, bytes], Awaitable[Reply]]


class Router(Protocol):
    """Maps keys to the node that owns them."""

    def node_for(self, key: bytes) -> NodeAddress:
        """The node that serves ``key`` now; raises TierUnavailable when none is known."""

    def masters(self) -> list[NodeAddress]:
        """Every node that owns keys (one, or each cluster master)."""

    async def refresh(self, ask: AskNode) -> None:
        """Learn the topology again; raises TierUnavailable when no node answers."""

    def moved(self, key: bytes, address: NodeAddress) -> None:
        """A node answered ``-MOVED``: ``key``'s slot now lives at ``address``."""


class StandaloneRouter:
    """One Redis server serves every key."""

    def __init__(self, address: NodeAddress) -> None:
        self._address = address

    def node_for(self, key: bytes) -> NodeAddress:
        return self._address

    def masters(self) -> list[NodeAddress]:
        return [self._address]

    async def refresh(self, ask: AskNode) -> None:
        return None

    def moved(self, key: bytes, address: NodeAddress) -> None:
        raise TierUnavailable(f"l3: {self._address} answered MOVED: it is a cluster node; set mode to cluster")


class SentinelRouter:
    """The master that the Sentinels monitor under ``settings.master_name`` (rediscovered after a failover)."""

    def __init__(self, settings: RemoteSettings) -> None:
        self._settings = settings
        self._master: NodeAddress | None = None

    def node_for(self, key: bytes) -> NodeAddress:
        if self._master is None:
            raise TierUnavailable(f"l3: no master known for {self._settings.master_name!r} yet")
        return self._master

    def masters(self) -> list[NodeAddress]:
        return [] if self._master is None else [self._master]

    async def refresh(self, ask: AskNode) -> None:
        from redis.asyncio.sentinel import MasterNotFoundError, Sentinel

        settings = self._settings
        master_name = settings.master_name or ""
        sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]  # untyped in older redis-py
            [(address.host, address.port) for address in settings.addresses],
            sentinel_kwargs=_redis_py_options(settings),
        )
        try:
            host, port = await sentinel.discover_master(master_name)
        except MasterNotFoundError as error:
            raise TierUnavailable(f"l3: the sentinels know no master {settings.master_name!r}: {error}") from error
        finally:
            for client in sentinel.sentinels:
                with contextlib.suppress(Exception):
                    await client.aclose()
        master = NodeAddress(str(host), int(port))
        if master != self._master:
            logger.info("l3: master of %r is %s", settings.master_name, master)
        self._master = master

    def moved(self, key: bytes, address: NodeAddress) -> None:
        raise TierUnavailable(f"l3: the master of {self._settings.master_name!r} answered MOVED (a cluster node?)")

    async def watch_failovers(self, on_switch: Callable[[NodeAddress], None]) -> None:
        """Call ``on_switch`` with the new master each time a sentinel announces ``+switch-master`` (runs forever,
        moving to the next sentinel when one goes away)."""
        import redis.asyncio

        settings = self._settings
        options = _redis_py_options(settings)
        while True:
            for address in settings.addresses:
                client = redis.asyncio.Redis(host=address.host, port=address.port, **options)
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.subscribe("+switch-master")
                        async for message in pubsub.listen():
                            if message.get("type") != "message":
                                continue
                            name, _old_host, _old_port, host, port = bytes(message["data"]).decode().split()
                            if name == settings.master_name:
                                self._master = NodeAddress(host, int(port))
                                on_switch(self._master)
                except Exception as error:  # a sentinel went away: listen to the next one
                    logger.debug("l3: sentinel %s stopped answering: %s", address, error)
                finally:
                    with contextlib.suppress(Exception):
                        await client.aclose()
            await asyncio.sleep(settings.timeout_seconds)


class ClusterRouter:
    """A Redis Cluster's slot map, learnt from ``CLUSTER SLOTS`` of any reachable node."""

    def __init__(self, settings: RemoteSettings) -> None:
        self._seeds = list(settings.addresses)
        self._slots: list[NodeAddress | None] = [None] * REDIS_CLUSTER_HASH_SLOTS

    def node_for(self, key: bytes) -> NodeAddress:
        address = self._slots[key_slot(key)]
        if address is None:
            raise TierUnavailable(f"l3: no cluster node serves slot {key_slot(key)}")
        return address

    def masters(self) -> list[NodeAddress]:
        return list(dict.fromkeys(address for address in self._slots if address is not None))

    async def refresh(self, ask: AskNode) -> None:
        errors: list[str] = []
        for seed in [*self.masters(), *self._seeds]:
            try:
                reply = await ask(seed, encode_command("CLUSTER", "SLOTS"))
            except TierUnavailable as error:
                errors.append(str(error))
                continue
            if isinstance(reply, ReplyError) or not isinstance(reply, list):
                errors.append(f"{seed}: CLUSTER SLOTS answered {reply!r:.100}")
                continue
            self._slots = _slot_map(reply, seed)
            known = {*self._seeds, *self.masters()}
            self._seeds = list(dict.fromkeys([*self._seeds, *known]))
            return
        raise TierUnavailable(f"l3: no cluster node answered CLUSTER SLOTS: {'; '.join(errors)}")

    def moved(self, key: bytes, address: NodeAddress) -> None:
        self._slots[key_slot(key)] = address


def _slot_map(reply: list[object], asked: NodeAddress) -> list[NodeAddress | None]:
    slots: list[NodeAddress | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
    for entry in reply:
        if not isinstance(entry, list) or len(entry) < 3 or not isinstance(entry[2], list):
            continue
        start, end, master = entry[0], entry[1], entry[2]
        if not isinstance(start, int) or not isinstance(end, int) or len(master) < 2:
            continue
        host = master[0].decode() if isinstance(master[0], bytes) and master[0] else asked.host
        port = master[1]
        if not isinstance(port, int):
            continue
        address = NodeAddress(host, port)
        for slot in range(max(0, start), min(end, REDIS_CLUSTER_HASH_SLOTS - 1) + 1):
            slots[slot] = address
    return slots


def create_router(settings: RemoteSettings) -> StandaloneRouter | SentinelRouter | ClusterRouter:
    """The router for ``settings.mode``."""
    from memories.optimization.cache.remote.settings import RedisMode

    if settings.mode is RedisMode.CLUSTER:
        return ClusterRouter(settings)
    if settings.mode is RedisMode.SENTINEL:
        return SentinelRouter(settings)
    return StandaloneRouter(settings.addresses[0])


def _redis_py_options(settings: RemoteSettings) -> dict[str, Any]:
    """redis-py connection options for the Sentinels: timeouts and TLS from ``settings`` (Sentinels are asked
    without credentials: the ACL user and password are the data nodes')."""
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.timeout_seconds,
        "socket_timeout": settings.timeout_seconds,
    }
    tls = settings.tls
    if tls is not None:
        options.update(
            ssl=True,
            ssl_ca_certs=tls.ca_file,
            ssl_ca_data=tls.ca_pem,
            ssl_certfile=tls.cert_file,
            ssl_keyfile=tls.key_file,
        )
    return options
