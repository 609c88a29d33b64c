"""The ``cache`` section: tier sizes, eviction, expiry; shared with the CachePolicy CRD where they mean the same.

The CRD reuses these settings (inheriting :class:`L3Settings`, or with :func:`~memories.settings.like`), so
their kind, default and description are written once and the operator's rendering copies them across.
"""

from __future__ import annotations

from memories.optimization.cache.policies import POLICIES
from memories.optimization.cache.remote.settings import DEFAULT_PREFIX, Coherence, RedisMode
from memories.settings import Rule, section, setting
from memories.settings.kinds import Boolean, Choice, Duration, Size, Text

#: The agent's environment variables holding L3's secrets (the operator fills them from the policy's Secrets).
L3_URL_ENV = "MEMORIES_L3_URL"
L3_USERNAME_ENV = "MEMORIES_L3_USERNAME"
L3_PASSWORD_ENV = "MEMORIES_L3_PASSWORD"
L3_TLS_CA_ENV = "MEMORIES_L3_TLS_CA"
#: Every eviction policy of the cache's registry, in its order.
EVICTION_POLICIES = tuple(POLICIES)


def _eviction_policy_doc() -> str:
    choices = [f"{name} ({policy.summary})" for name, policy in POLICIES.items()]
    return f"Which entry a full tier evicts: {', '.join(choices[:-1])} or {choices[-1]}."


@section(
    rules=(
        Rule(
            "masterName is required in sentinel mode (the name the Sentinels monitor)",
            cel="self.mode != 'sentinel' || has(self.masterName)",
            check=lambda l3: l3.mode != RedisMode.SENTINEL.value or l3.master_name is not None,
            field=".masterName",
            reason="FieldValueRequired",
        ),
    )
)
class L3Settings:
    """The settings of the shared Redis tier that the CRD and the agent's file both carry.

    Add an L3 setting here when a CachePolicy sets it and the agent uses it as it is.
    """

    mode: str = setting(
        Choice(tuple(mode.value for mode in RedisMode)),
        doc="How the Redis is deployed: standalone (one server; the URL names it), cluster (a Redis Cluster; the "
        "URL names one or more seed nodes, host1:port1,host2:port2) or sentinel (a master watched by Sentinels; "
        "the URL names the Sentinels and masterName the master).",
        default="standalone",
    )
    master_name: str | None = setting(
        Text(min_length=1, max_length=256),
        doc="The master's name in the Sentinels' configuration (sentinel mode only).",
        default=None,
    )
    coherence: str = setting(
        Choice(tuple(mode.value for mode in Coherence)),
        doc="tracking: Redis tells every agent when another client changes a key under the prefix, and the agent "
        "drops its local (L1, L2) copy (RESP3 client-side caching, BCAST); none: local copies are never "
        "invalidated and may be stale until they expire (only safe with a single agent). See docs/consistency.md.",
        default="tracking",
    )
    max_staleness: float = setting(
        Duration(positive=True),
        doc="With tracking, the longest an agent serves local copies without confirming that no invalidation is "
        "missing: when Redis is silent or its connection is lost for this long, every local copy is dropped.",
        default="1s",
    )
    timeout: float = setting(
        Duration(positive=True),
        doc="Redis sending nothing for this long while commands wait counts its connection as lost.",
        default="1s",
    )
    size: int | None = setting(
        Size(off_when_zero=True),
        doc="Largest value this policy writes to Redis, e.g. 64Mi; omit for no limit. Redis' own maxmemory bounds "
        "the memory (docs/consistency.md: bounding a policy's share).",
        default=None,
    )


@section
class L3Tls:
    """TLS to Redis (with any of these, or a rediss:// URL)."""

    server_name: str | None = setting(
        Text(min_length=1, max_length=253),
        doc="Name the server's certificate must carry; omit for the host connected to.",
        default=None,
    )
    ca: str | None = setting(
        Text(min_length=1),
        doc=f"PEM certificates of the CAs to trust; absent = the {L3_TLS_CA_ENV} environment variable, else caFile, "
        "else the system's.",
        default=None,
        env=L3_TLS_CA_ENV,
    )
    ca_file: str | None = setting(Text(min_length=1), doc="A PEM file of the CAs to trust.", default=None)


@section
class L3Auth:
    """Redis ACL credentials (AUTH username password); they win over credentials in the URL."""

    username: str | None = setting(
        Text(min_length=1),
        doc=f"The ACL user; absent = the {L3_USERNAME_ENV} environment variable, else Redis' default user.",
        default=None,
        env=L3_USERNAME_ENV,
    )
    password: str | None = setting(
        Text(min_length=1),
        doc=f"The user's password; absent = the {L3_PASSWORD_ENV} environment variable.",
        default=None,
        env=L3_PASSWORD_ENV,
    )


@section
class L3Config(L3Settings):
    """The agent's L3: the shared settings plus the URL and credentials, which the pod gets from Secrets."""

    url: str | None = setting(
        Text(min_length=1),
        doc=f"Redis URL: redis://[user:password@]host:port[,host2:port2...]/db, rediss:// for TLS; absent = the "
        f"{L3_URL_ENV} environment variable.",
        default=None,
        env=L3_URL_ENV,
    )
    key_prefix: str = setting(
        Text(min_length=1, max_length=256),
        doc="Prefix of this cache's keys in Redis; the agents using one prefix invalidate each other's copies. "
        "The operator gives each policy its own (memories:<namespace>/<policy>:).",
        default=DEFAULT_PREFIX,
    )
    tls: L3Tls | None = setting(doc="TLS to Redis; absent = TLS only for a rediss:// URL.", default=None)
    auth: L3Auth | None = setting(doc="ACL credentials; absent = those of the URL, if any.", default=None)


@section(
    rules=(
        Rule(
            "l2Shared requires l2Path (the directory the agents share)",
            check=lambda cache: not cache.l2_shared or cache.l2_path is not None,
            field=".l2Shared",
        ),
    )
)
class CacheConfig:
    """The cache tiers of one agent."""

    l1_size: int = setting(Size(positive=True), doc="In-memory (L1) tier, e.g. 256Mi.", default="256Mi")
    l2_size: int | None = setting(
        Size(off_when_zero=True), doc="On-disk (L2) tier, e.g. 10Gi; absent or 0 = no disk tier.", default=None
    )
    l2_path: str | None = setting(
        Text(min_length=1),
        doc="Directory of the L2 tier; absent = the per-user cache directory (~/.cache/memories/cache-l2).",
        default=None,
    )
    l2_shared: bool = setting(
        Boolean(),
        doc="l2Path is on a volume several agents use (what a CachePolicy's tiers.l2Volume renders): each agent "
        "locks a slot directory of its own under it (slot-0, slot-1, ...), and one that replaces another reopens "
        "the slot it left, warm.",
        default=False,
    )
    l3: L3Config | None = setting(doc="Shared Redis (L3) tier; absent = no L3.", default=None)
    eviction_policy: str = setting(Choice(EVICTION_POLICIES), doc=_eviction_policy_doc(), default="lru")
    default_ttl: float | None = setting(
        Duration(positive=True),
        doc="Expiry of entries stored without an explicit TTL, e.g. 30s, 15m, 1h30m, 7d; omit for no expiry.",
        default=None,
    )
    max_value_size: int | None = setting(
        Size(positive=True), doc="Largest value the cache accepts; absent = no limit.", default=None
    )
