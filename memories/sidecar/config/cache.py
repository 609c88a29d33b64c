"""The ``cache`` section: tier sizes, eviction, expiry; shared with the CachePolicy CRD where they mean the same.

The CRD reuses these settings (inheriting :class:`L3Settings`, or with :func:`~memories.settings.like`), so
their kind, default and description are written once and the operator's rendering copies them across.
"""

from __future__ import annotations

from memories.optimization.cache.policies import POLICIES
from memories.settings import Rule, section, setting
from memories.settings.kinds import Boolean, Choice, Duration, Size, Text

#: The agent's environment variable holding the L3 URL (the operator fills it from the policy's Secret).
L3_URL_ENV = "MEMORIES_L3_URL"
#: Every eviction policy of the cache's registry, in its order.
EVICTION_POLICIES = tuple(POLICIES)


def _eviction_policy_doc() -> str:
    choices = [f"{name} ({policy.summary})" for name, policy in POLICIES.items()]
    return f"Which entry a full tier evicts: {', '.join(choices[:-1])} or {choices[-1]}."


@section
class L3Settings:
    """The settings of the shared Redis tier that the CRD and the agent's file both carry.

    Add an L3 setting here when a CachePolicy sets it and the agent uses it as it is.
    """

    size: int | None = setting(
        Size(off_when_zero=True),
        doc="Budget of this policy's keys in Redis, e.g. 50Gi; omit for no limit.",
        default=None,
    )


@section
class L3Config(L3Settings):
    """The agent's L3: the shared settings plus the URL, which the pod gets from a Secret."""

    url: str | None = setting(
        Text(min_length=1),
        doc=f"Redis URL (redis://[user:password@]host:port/db); absent = the {L3_URL_ENV} environment variable.",
        default=None,
        env=L3_URL_ENV,
    )


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
