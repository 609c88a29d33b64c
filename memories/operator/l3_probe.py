"""The CachePolicy condition ``L3Reachable``: does the policy's Redis answer, as the agents would reach it?

The operator reads the Secrets ``tiers.l3`` names (the URL, the ACL credentials, the CA bundle), builds the very
L3 settings an agent builds from them (:func:`memories.sidecar.engine.remote_settings`), discovers the nodes
(Cluster slot map, Sentinel master) and PINGs every one. The result is a condition; the agents themselves report
the same in their metrics (``memories_cache_l3_*``). From where the operator runs the network may differ from the
pods': a failure here names the address that did not answer.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Callable

from memories.errors import ConfigError, MemoriesError
from memories.operator.api.cache_policy import L3Tier
from memories.operator.conditions import Condition
from memories.optimization.cache.remote.protocol import ReplyError, encode_command
from memories.optimization.cache.remote.settings import Coherence, RemoteSettings
from memories.settings.kinds import KeyReference
from memories.settings.write import project
from memories.sidecar.config import L3Auth, L3Config, L3Tls
from memories.sidecar.engine import remote_settings

CONDITION_TYPE = "L3Reachable"

#: Reads one key of a Secret of the policy's namespace; raises KeyError (with a message) when it cannot.
ReadSecretKey = Callable[[KeyReference], str]


def l3_settings(l3: L3Tier, read_secret_key: ReadSecretKey) -> RemoteSettings:
    """The settings an agent of the policy would use for L3. Raises ConfigError, KeyError (a Secret or key)."""
    auth = l3.auth
    tls = l3.tls
    config = project(
        L3Config,
        l3,
        url=read_secret_key(l3.secret_ref),
        tls=None
        if tls is None
        else L3Tls(
            server_name=tls.server_name,
            ca=None if tls.ca_secret_ref is None else read_secret_key(tls.ca_secret_ref),
        ),
        auth=None
        if auth is None
        else L3Auth(
            username=None if auth.username_secret_ref is None else read_secret_key(auth.username_secret_ref),
            password=read_secret_key(auth.password_secret_ref),
        ),
    )
    return remote_settings(config)


async def probe(settings: RemoteSettings) -> Condition:
    """Discover the nodes and PING each; the condition says which answered (and how fast) or what failed."""
    from memories.optimization.cache.remote.client import RemoteClient

    client = RemoteClient(
        dataclasses.replace(settings, coherence=Coherence.NONE),
        on_invalidate=lambda keys: None,
        on_coherence_lost=lambda reason: None,
    )
    try:
        if not await client.start():
            return Condition(CONDITION_TYPE, False, "Unreachable", client.last_error or "Redis did not answer")
        masters = client.masters()
        for address in masters:
            reply = await client.execute_on(address, encode_command("PING"))
            if isinstance(reply, ReplyError):
                return Condition(CONDITION_TYPE, False, "Refused", f"{address} answered PING with {reply.message}")
    except MemoriesError as error:
        return Condition(CONDITION_TYPE, False, "Unreachable", str(error))
    finally:
        await client.close()
    nodes = ", ".join(map(str, masters))
    return Condition(CONDITION_TYPE, True, "Reachable", f"{settings.mode.value} Redis answered PING: {nodes}")


def l3_condition(l3: L3Tier, read_secret_key: ReadSecretKey) -> Condition:
    """The ``L3Reachable`` condition of a policy's ``tiers.l3`` (blocking; at most a few timeouts long)."""
    try:
        settings = l3_settings(l3, read_secret_key)
    except KeyError as error:
        return Condition(CONDITION_TYPE, False, "SecretNotFound", str(error.args[0] if error.args else error))
    except ConfigError as error:
        return Condition(CONDITION_TYPE, False, "InvalidSecret", str(error))
    return asyncio.run(probe(settings))


def secret_reader(read_secret: Callable[[str], dict[str, str] | None]) -> ReadSecretKey:
    """A :data:`ReadSecretKey` over ``read_secret(name)``, which returns a Secret's ``data`` (base64) or None."""

    def read(reference: KeyReference) -> str:
        data = read_secret(reference.name)
        if data is None:
            raise KeyError(f"Secret {reference.name} not found")
        if reference.key not in data:
            raise KeyError(f"Secret {reference.name} has no key {reference.key}")
        return base64.b64decode(data[reference.key]).decode("utf-8", "replace").strip()

    return read
