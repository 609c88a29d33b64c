"""Decide a CachePolicy's rendered config and status from what the cluster holds (no API calls).

The handlers gather the inputs (the policy, the profile and pool it names if they exist, the
opted-in pods of its namespace) and apply the outcome (ConfigMap, status, events, rollouts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memories.errors import ConfigError
from memories.operator import constants
from memories.operator.api import parse_cache_policy, parse_compression_profile, parse_memory_pool
from memories.operator.conditions import Condition
from memories.operator.injection import InjectionPlan, plan_base_digest, plan_digest, plan_for
from memories.operator.render import config_hash, render_sidecar_config, restart_config_hash
from memories.operator.selectors import selector_matches


@dataclass(frozen=True)
class PodSummary:
    """What the operator remembers of an opted-in pod (from the kopf pod index)."""

    name: str
    labels: Mapping[str, str]
    injected_by: str | None
    pod_spec_hash: str | None
    host_network: bool = False
    #: The pod-spec digest without the image (see :func:`~memories.operator.injection.plan_base_digest`).
    pod_spec_base_hash: str | None = None
    #: Where the agent container is: ("initContainers" or "containers", index); None when not injected.
    agent_location: tuple[str, int] | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    """What a reconcile of one CachePolicy decided."""

    config: dict[str, Any] | None
    config_hash: str | None
    plan: InjectionPlan | None
    conditions: list[Condition]
    matched_pods: int = 0
    injected_pods: int = 0
    missed_pods: list[str] = field(default_factory=list)
    stale_pods: list[str] = field(default_factory=list)
    #: Outdated pods whose agent image only differs, to patch in place (``upgrade: InPlace``).
    in_place_pods: list[PodSummary] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def _not_ready(reason: str, message: str) -> PolicyOutcome:
    return PolicyOutcome(
        config=None,
        config_hash=None,
        plan=None,
        conditions=[Condition("Ready", False, reason, message), Condition("Degraded", True, reason, message)],
        warnings=[(reason, message)],
    )


def decide_policy(
    policy_name: str,
    spec: Mapping[str, Any],
    profiles: Mapping[str, Mapping[str, Any]],
    pools: Mapping[str, Mapping[str, Any]],
    pods: Sequence[PodSummary],
    *,
    namespace: str,
    server_minor_version: int,
    default_image: str = constants.DEFAULT_IMAGE,
) -> PolicyOutcome:
    """Render the config and compute the conditions of one policy.

    ``profiles`` and ``pools`` map names to specs of the policy's ``namespace``.
    """
    try:
        policy = parse_cache_policy(spec)
    except ConfigError as error:
        return _not_ready("InvalidSpec", str(error))
    profile = pool = None
    try:
        if policy.compression_profile_ref is not None:
            profile_name = policy.compression_profile_ref.name
            if profile_name not in profiles:
                return _not_ready("CompressionProfileNotFound", f"CompressionProfile {profile_name!r} does not exist")
            profile = parse_compression_profile(profiles[profile_name])
        if policy.memory_pool_ref is not None:
            pool_name = policy.memory_pool_ref.name
            if pool_name not in pools:
                return _not_ready("MemoryPoolNotFound", f"MemoryPool {pool_name!r} does not exist")
            pool = parse_memory_pool(pools[pool_name])
    except ConfigError as error:
        return _not_ready("InvalidReference", str(error))
    config = render_sidecar_config(policy, profile, pool, owner=f"{namespace}/{policy_name}")
    plan = plan_for(
        policy_name,
        policy,
        pool,
        server_minor_version=server_minor_version,
        default_image=default_image,
        restart_config_hash=restart_config_hash(config),
    )
    pod_spec_hash, base_hash = plan_digest(plan), plan_base_digest(plan)
    matched = [pod for pod in pods if selector_matches(policy.selector, pod.labels) and not pod.host_network]
    injected = [pod for pod in matched if pod.injected_by == policy_name]
    missed = sorted(pod.name for pod in matched if pod.injected_by is None)
    outdated = [pod for pod in injected if pod.pod_spec_hash != pod_spec_hash]
    in_place = [
        pod
        for pod in outdated
        if policy.upgrade == "InPlace" and pod.pod_spec_base_hash == base_hash and pod.agent_location is not None
    ]
    stale = sorted(pod.name for pod in outdated if pod not in in_place)
    conditions = [
        Condition("Ready", True, "Reconciled", f"config rendered into {constants.config_map_name(policy_name)}")
    ]
    if missed:
        conditions.append(
            Condition("Degraded", True, "InjectionMissed", f"opted-in pods without the agent: {', '.join(missed[:10])}")
        )
    else:
        conditions.append(Condition("Degraded", False, "AsExpected", "every matching opted-in pod has the agent"))
    if stale:
        conditions.append(
            Condition(
                "RolloutRequired",
                policy.rollout == "Manual",
                "PodsOutdated" if policy.rollout == "Manual" else "RolloutTriggered",
                f"pods created before a change that needs a new pod: {', '.join(stale[:10])}",
            )
        )
    elif in_place:
        names = ", ".join(sorted(pod.name for pod in in_place)[:10])
        conditions.append(
            Condition("RolloutRequired", False, "UpgradingInPlace", f"agent image patched in place: {names}")
        )
    else:
        conditions.append(Condition("RolloutRequired", False, "UpToDate", "every injected pod runs the current config"))
    return PolicyOutcome(
        config=config,
        config_hash=config_hash(config),
        plan=plan,
        conditions=conditions,
        matched_pods=len(matched),
        injected_pods=len(injected),
        missed_pods=missed,
        stale_pods=stale,
        in_place_pods=in_place,
    )
