"""Which policy changes outdate running pods, and which an in-place agent upgrade (``upgrade: InPlace``) fixes."""

from __future__ import annotations

import copy
from typing import Any

from memories.operator.injection import plan_base_digest, plan_digest
from memories.operator.policy_status import PodSummary, PolicyOutcome, decide_policy

SPEC: dict[str, Any] = {
    "selector": {"matchLabels": {"app": "web"}},
    "tiers": {"l1Size": "64Mi"},
    "sidecar": {"image": "localhost/agent:1"},
    "upgrade": "InPlace",
}
AGENT = ("initContainers", 0)


def _decide(spec: dict[str, Any], pods: list[PodSummary] | None = None) -> PolicyOutcome:
    return decide_policy("web", spec, {}, {}, pods or [], server_minor_version=35, namespace="shop")


def _pod_injected_under(spec: dict[str, Any]) -> PodSummary:
    plan = _decide(spec).plan
    assert plan is not None
    return PodSummary("a", {"app": "web"}, "web", plan_digest(plan), False, plan_base_digest(plan), AGENT)


def _changed(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        section = spec
        for parent in parents:
            section = section.setdefault(parent, {})
        section[leaf] = value
    return spec


def _rollout_required(outcome: PolicyOutcome) -> tuple[bool, str]:
    [condition] = [c for c in outcome.conditions if c.type == "RolloutRequired"]
    return condition.status, condition.reason


def test_an_image_change_is_upgraded_in_place() -> None:
    pod = _pod_injected_under(SPEC)
    outcome = _decide(_changed(sidecar__image="localhost/agent:2"), [pod])
    assert outcome.in_place_pods == [pod] and outcome.stale_pods == []
    assert _rollout_required(outcome) == (False, "UpgradingInPlace")
    assert outcome.plan is not None and outcome.plan.image == "localhost/agent:2"


def test_without_in_place_an_image_change_needs_new_pods() -> None:
    pod = _pod_injected_under(_changed(upgrade="Rollout"))
    outcome = _decide(_changed(upgrade="Rollout", sidecar__image="localhost/agent:2"), [pod])
    assert outcome.in_place_pods == [] and outcome.stale_pods == ["a"]
    assert _rollout_required(outcome) == (True, "PodsOutdated")


def test_an_image_change_together_with_a_size_change_is_not_done_in_place() -> None:
    pod = _pod_injected_under(SPEC)
    outcome = _decide(_changed(sidecar__image="localhost/agent:2", tiers__l1Size="128Mi"), [pod])
    assert outcome.in_place_pods == [] and outcome.stale_pods == ["a"]


def test_a_config_change_the_agent_cannot_reload_outdates_the_pods() -> None:
    pod = _pod_injected_under(SPEC)
    outcome = _decide(_changed(evictionPolicy="lfu"), [pod])
    assert outcome.stale_pods == ["a"], "the running agent keeps its eviction policy until it restarts"


def test_a_limits_change_is_reloaded_by_the_running_agent() -> None:
    pod = _pod_injected_under(SPEC)
    outcome = _decide(_changed(sidecar__limits={"maxValueSize": "1Mi"}), [pod])
    assert outcome.stale_pods == [] and outcome.in_place_pods == []
    assert _rollout_required(outcome) == (False, "UpToDate")
    assert outcome.config is not None and outcome.config["server"]["limits"]["maxValueSize"] == 2**20


def test_a_pod_whose_agent_cannot_be_located_is_not_patched() -> None:
    pod = _pod_injected_under(SPEC)
    lost = PodSummary(pod.name, pod.labels, pod.injected_by, pod.pod_spec_hash, False, pod.pod_spec_base_hash, None)
    outcome = _decide(_changed(sidecar__image="localhost/agent:2"), [lost])
    assert outcome.in_place_pods == [] and outcome.stale_pods == ["a"]
