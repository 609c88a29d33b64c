"""The kopf handlers. Thin on purpose: they gather inputs from kopf's indexes, call the pure
functions in ``policy_status``/``injection`` and apply the outcome through ``kube_api``.

Importing this module registers the handlers with kopf's default registry.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf

from memories.errors import ConfigError
from memories.operator import constants, kube_api, l3_probe, login  # noqa: F401  (login registers its handler)
from memories.operator.api import parse_cache_policy, parse_compression_profile, parse_memory_pool
from memories.operator.conditions import Condition, merge_conditions
from memories.operator.injection import agent_location, apply_injection, plan_digest
from memories.operator.options import OperatorOptions
from memories.operator.policy_status import PodSummary, PolicyOutcome, decide_policy
from memories.operator.render import CONFIG_HASH_ANNOTATION, config_document
from memories.operator.selectors import raw_selector_matches

logger = logging.getLogger(__name__)
POLICIES = (constants.GROUP, constants.VERSION, constants.CACHE_POLICY_PLURAL)
PROFILES = (constants.GROUP, constants.VERSION, constants.COMPRESSION_PROFILE_PLURAL)
POOLS = (constants.GROUP, constants.VERSION, constants.MEMORY_POOL_PLURAL)
OPTED_IN = {constants.INJECT_LABEL: constants.INJECT_ENABLED}
#: Seconds between periodic resyncs of every policy (kopf timers are declared at import time).
RESYNC_SECONDS = float(os.environ.get("MEMORIES_RESYNC_SECONDS", "30"))
#: Seconds before a failed handler is retried (kopf's default of 60 s leaves a policy stale too long).
RETRY_BACKOFF_SECONDS = min(5.0, RESYNC_SECONDS)
#: Seconds after start-up before pods that missed injection are rolled: a restart earlier than the webhook is
#: reachable (the operator pod Ready, its Service endpoint published) would only create pods that miss it again.
#: Shown on the real node: rolled at once, the new pods missed the webhook too and then waited out the cooldown.
WEBHOOK_WARMUP_SECONDS = float(os.environ.get("MEMORIES_WEBHOOK_WARMUP_SECONDS", "20"))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Apply our settings: own finalizer, watch timeouts, webhook server, and learn the server version."""
    options: OperatorOptions = memo.options
    settings.persistence.finalizer = constants.FINALIZER
    settings.watching.server_timeout = int(options.watch_server_timeout_seconds)  # the API wants whole seconds
    settings.watching.client_timeout = options.watch_server_timeout_seconds + 30
    settings.watching.connect_timeout = 10
    settings.posting.level = logging.WARNING
    if options.webhook is not None:
        settings.admission.server = kopf.WebhookServer(
            addr=options.webhook.host,
            port=options.webhook.port,
            host=options.webhook.public_host,
            certfile=str(options.webhook.cert_file),
            pkeyfile=str(options.webhook.key_file),
            file_check_interval=options.webhook.certificate_check_seconds,
        )
        settings.admission.managed = None  # the chart (or the test fixture) owns the webhook configuration
    memo.server_minor = kube_api.server_minor_version()
    memo.l3_conditions = {}  # (namespace, name) -> the last L3Reachable condition of the policy
    memo.started_at = time.monotonic()


# --- indexes: what the handlers and the webhook read instead of calling the API ---------------------


@kopf.index(*POLICIES)
def policy_index(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str | None, dict[str, Any]]:
    """CachePolicies by namespace: what the webhook and dependents' reconciles need, no managedFields."""
    metadata = body.metadata
    return {
        namespace: {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "metadata": {key: metadata.get(key) for key in ("name", "namespace", "uid", "generation")},
            "spec": copy.deepcopy(dict(body.spec)),
            "status": copy.deepcopy(dict(body.status)),
        }
    }


@kopf.index(*PROFILES)
def profile_index(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str | None, tuple[str, dict[str, Any]]]:
    """CompressionProfile specs by namespace."""
    return {namespace: (name, copy.deepcopy(dict(spec)))}


@kopf.index(*POOLS)
def pool_index(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str | None, tuple[str, dict[str, Any]]]:
    """MemoryPool specs by namespace."""
    return {namespace: (name, copy.deepcopy(dict(spec)))}


@kopf.index("pods", labels=OPTED_IN)
def pod_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[str | None, PodSummary]:
    """Opted-in pods by namespace, with what the webhook stamped on them."""
    annotations = body.metadata.annotations
    return {
        namespace: PodSummary(
            name=name,
            labels=dict(body.metadata.labels),
            injected_by=annotations.get(constants.INJECTED_ANNOTATION),
            pod_spec_hash=annotations.get(constants.POD_SPEC_HASH_ANNOTATION),
            host_network=bool(body.spec.get("hostNetwork", False)),
            pod_spec_base_hash=annotations.get(constants.POD_SPEC_BASE_HASH_ANNOTATION),
            agent_location=agent_location({"spec": dict(body.spec)}),
        )
    }


@kopf.index("namespaces")
def namespace_index(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    """Namespace labels, for the opt-out check in the webhook."""
    return {name: dict(labels)}


def _named_specs(index: kopf.Index[str, tuple[str, dict[str, Any]]], namespace: str) -> dict[str, dict[str, Any]]:
    return dict(index.get(namespace, []))


# --- CachePolicy reconciliation -------------------------------------------------------------------


def reconcile_policy(
    policy: Mapping[str, Any],
    memo: kopf.Memo,
    profile_index: kopf.Index[str, tuple[str, dict[str, Any]]],
    pool_index: kopf.Index[str, tuple[str, dict[str, Any]]],
    pod_index: kopf.Index[str, PodSummary],
) -> PolicyOutcome:
    """Level-triggered: render the ConfigMap, roll or flag outdated pods, and write the status."""
    metadata = policy["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    options: OperatorOptions = memo.options
    outcome = decide_policy(
        name,
        policy.get("spec") or {},
        _named_specs(profile_index, namespace),
        _named_specs(pool_index, namespace),
        list(pod_index.get(namespace, [])),
        namespace=namespace,
        server_minor_version=memo.server_minor,
        default_image=options.image,
    )
    previous_status = policy.get("status") or {}
    if outcome.config is not None and outcome.config_hash is not None:
        kube_api.apply_config_map(
            namespace,
            constants.config_map_name(name),
            {constants.CONFIG_FILE_NAME: config_document(outcome.config)},
            policy,
            {CONFIG_HASH_ANNOTATION: outcome.config_hash},
        )
    if outcome.in_place_pods and outcome.plan is not None:
        # Only the agent's image changed and the policy says InPlace: the kubelet restarts just that container.
        for pod in outcome.in_place_pods:
            assert pod.agent_location is not None
            kube_api.upgrade_agent_in_place(
                namespace, pod.name, pod.agent_location, outcome.plan.image, plan_digest(outcome.plan)
            )
    webhook_warm = time.monotonic() - getattr(memo, "started_at", 0.0) >= WEBHOOK_WARMUP_SECONDS
    repairable_missed = outcome.missed_pods if webhook_warm else []
    if (outcome.stale_pods or repairable_missed) and (policy.get("spec") or {}).get("rollout") == "Automatic":
        # Pods created before a change that needs a new pod, or while the webhook was unreachable.
        kube_api.restart_workloads(namespace, policy["spec"].get("selector") or {}, "pods without the current agent")
    previous_reasons = {
        condition.get("type"): condition.get("reason") for condition in previous_status.get("conditions", [])
    }
    for reason, message in outcome.warnings:
        if previous_reasons.get("Ready") != reason:
            kopf.warn(kopf.Body(cast(kopf.RawBody, dict(policy))), reason=reason, message=message)
    generation = int(metadata.get("generation", 0))
    status = {
        "observedGeneration": generation,
        "matchedPods": outcome.matched_pods,
        "injectedPods": outcome.injected_pods,
        "missedPods": len(outcome.missed_pods),
        "configMap": constants.config_map_name(name) if outcome.config is not None else None,
        "configHash": outcome.config_hash,
        "conditions": merge_conditions(
            previous_status.get("conditions", []),
            [*outcome.conditions, *_l3_conditions(memo, namespace, name)],
            generation,
        ),
    }
    if any(previous_status.get(key) != value for key, value in status.items()):
        kube_api.patch_status(constants.CACHE_POLICY_PLURAL, namespace, name, status)
    return outcome


@kopf.on.resume(*POLICIES, backoff=RETRY_BACKOFF_SECONDS)
@kopf.on.create(*POLICIES, backoff=RETRY_BACKOFF_SECONDS)
@kopf.on.update(*POLICIES, field="spec", backoff=RETRY_BACKOFF_SECONDS)
def policy_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """A policy appeared or its spec changed: reconcile it now."""
    reconcile_policy(body, memo, kwargs["profile_index"], kwargs["pool_index"], kwargs["pod_index"])


def _l3_conditions(memo: kopf.Memo, namespace: str, name: str) -> list[Condition]:
    condition = memo.l3_conditions.get((namespace, name))
    return [] if condition is None else [condition]


@kopf.timer(*POLICIES, interval=RESYNC_SECONDS, initial_delay=1.0, id="l3-probe")
def policy_l3_probe(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Probe the policy's Redis (tiers.l3) as its agents reach it, and report L3Reachable in the status."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        l3 = parse_cache_policy(body.get("spec") or {}).tiers.l3
    except ConfigError:
        return  # reconcile reports the invalid spec
    if l3 is None:
        memo.l3_conditions.pop((namespace, name), None)
        return
    reader = l3_probe.secret_reader(lambda secret: kube_api.secret_data(namespace, secret))
    condition = l3_probe.l3_condition(l3, reader)
    if memo.l3_conditions.get((namespace, name)) == condition:
        return
    memo.l3_conditions[(namespace, name)] = condition
    reconcile_policy(body, memo, kwargs["profile_index"], kwargs["pool_index"], kwargs["pod_index"])


@kopf.timer(*POLICIES, interval=RESYNC_SECONDS, initial_delay=1.0, id="resync")
def policy_resync(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Periodic resync: pod counts, missed injections, and recovery of missing references."""
    reconcile_policy(body, memo, kwargs["profile_index"], kwargs["pool_index"], kwargs["pod_index"])


def _dependents(
    kind: str, namespace: str | None, name: str, policy_index: kopf.Index[Any, Any]
) -> list[dict[str, Any]]:
    field = "compressionProfileRef" if kind == "CompressionProfile" else "memoryPoolRef"
    return [
        policy
        for policy in policy_index.get(namespace, [])
        if ((policy.get("spec") or {}).get(field) or {}).get("name") == name
    ]


def report_dependency_status(body: kopf.Body, namespace: str, dependents: int) -> None:
    """Write a profile's or pool's status: valid or not, and how many policies use it."""
    is_profile = body.get("kind") == "CompressionProfile"
    parse = parse_compression_profile if is_profile else parse_memory_pool
    try:
        parse(body.spec)
        conditions = [Condition("Ready", True, "Valid", f"used by {dependents} CachePolicies")]
    except ConfigError as error:
        conditions = [Condition("Ready", False, "InvalidSpec", str(error))]
    generation = int(body.metadata.get("generation", 0))
    status = {
        "observedGeneration": generation,
        "policies": dependents,
        "conditions": merge_conditions(body.status.get("conditions", []), conditions, generation),
    }
    if any(body.status.get(key) != value for key, value in status.items()):
        plural = constants.COMPRESSION_PROFILE_PLURAL if is_profile else constants.MEMORY_POOL_PLURAL
        kube_api.patch_status(plural, namespace, body.metadata.name or "", status)


@kopf.on.event(*PROFILES)
@kopf.on.event(*POOLS)
def dependency_changed(
    type: str, namespace: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    """A CompressionProfile or MemoryPool changed (or appeared, or went): re-render every policy naming it."""
    dependents = _dependents(str(body.get("kind")), namespace, name, kwargs["policy_index"])
    # Our own status patches come back as MODIFIED events with an unchanged generation: nothing to re-render.
    status_only = type == "MODIFIED" and body.metadata.get("generation") == body.status.get("observedGeneration")
    for policy in [] if status_only else dependents:
        reconcile_policy(policy, memo, kwargs["profile_index"], kwargs["pool_index"], kwargs["pod_index"])
    if type != "DELETED" and namespace is not None:
        report_dependency_status(body, namespace, len(dependents))


@kopf.timer(*PROFILES, interval=RESYNC_SECONDS, initial_delay=1.0, id="resync")
@kopf.timer(*POOLS, interval=RESYNC_SECONDS, initial_delay=1.0, id="resync")
def dependency_resync(namespace: str | None, name: str, body: kopf.Body, **kwargs: Any) -> None:
    """Periodic resync of a profile's or pool's status (policies referencing it come and go)."""
    if namespace is not None:
        report_dependency_status(
            body, namespace, len(_dependents(str(body.get("kind")), namespace, name, kwargs["policy_index"]))
        )


@kopf.on.delete(*POLICIES, backoff=RETRY_BACKOFF_SECONDS)
def policy_deleted(namespace: str | None, name: str, **_: Any) -> None:
    """Remove what the policy owns. Running pods keep their mounted config until they are replaced."""
    if namespace is not None:
        kube_api.delete_config_map(namespace, constants.config_map_name(name))


# --- the mutating admission webhook ---------------------------------------------------------------


def _choose_policy(
    policies: list[dict[str, Any]], labels: Mapping[str, str], warnings: list[str]
) -> dict[str, Any] | None:
    matching = sorted(
        (
            policy
            for policy in policies
            if raw_selector_matches((policy.get("spec") or {}).get("selector") or {}, labels)
        ),
        key=lambda policy: str(policy["metadata"]["name"]),
    )
    if len(matching) > 1:
        names = ", ".join(policy["metadata"]["name"] for policy in matching)
        warnings.append(f"several CachePolicies select this pod ({names}); using {matching[0]['metadata']['name']}")
    return matching[0] if matching else None


@kopf.on.mutate("pods", id="inject-sidecar", operations=["CREATE"], labels=OPTED_IN, ignore_failures=True)
def inject_sidecar(body: kopf.Body, patch: kopf.Patch, warnings: list[str], memo: kopf.Memo, **kwargs: Any) -> None:
    """Add the agent to an opted-in pod that a CachePolicy of its namespace selects."""
    options: OperatorOptions = memo.options
    namespace = body.metadata.namespace or ""
    namespace_labels: dict[str, str] = next(iter(kwargs["namespace_index"].get(namespace, [])), {})
    if (
        namespace in constants.PROTECTED_NAMESPACES
        or namespace == options.operator_namespace
        or namespace_labels.get(constants.NAMESPACE_OPT_OUT_LABEL) == "disabled"
        or body.spec.get("hostNetwork", False)
    ):
        return
    policy = _choose_policy(list(kwargs["policy_index"].get(namespace, [])), dict(body.metadata.labels), warnings)
    if policy is None:
        return
    outcome = decide_policy(
        policy["metadata"]["name"],
        policy.get("spec") or {},
        _named_specs(kwargs["profile_index"], namespace),
        _named_specs(kwargs["pool_index"], namespace),
        [],
        namespace=namespace,
        server_minor_version=memo.server_minor,
        default_image=options.image,
    )
    if outcome.plan is None:
        warnings.append(f"CachePolicy {policy['metadata']['name']} is not ready; the agent was not injected")
        return
    plan = outcome.plan

    def inject(pod: kopf.RawBody) -> None:
        apply_injection(pod, plan)  # type: ignore[arg-type]  # a RawBody is the pod's plain dict

    patch.fns.append(inject)
