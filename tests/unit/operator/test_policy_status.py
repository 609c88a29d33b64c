"""A policy's status follows what the cluster holds: references, matched, injected and missed pods."""

from __future__ import annotations

from memories.operator.injection import plan_digest
from memories.operator.policy_status import PodSummary, decide_policy

SPEC = {
    "selector": {"matchLabels": {"app": "web"}},
    "tiers": {"l1Size": "64Mi"},
    "compressionProfileRef": {"name": "fast"},
}
PROFILES = {"fast": {"algorithm": "lz4", "level": 1}}


def conditions(outcome: object) -> dict[str, tuple[bool, str]]:
    return {condition.type: (condition.status, condition.reason) for condition in outcome.conditions}  # type: ignore[attr-defined]


def test_missing_profile_is_not_ready_with_reason() -> None:
    outcome = decide_policy("web", SPEC, {}, {}, [], namespace="shop", server_minor_version=35)
    assert conditions(outcome)["Ready"] == (False, "CompressionProfileNotFound")
    assert outcome.config is None
    assert outcome.warnings[0][0] == "CompressionProfileNotFound"


def test_profile_present_renders_config() -> None:
    outcome = decide_policy("web", SPEC, PROFILES, {}, [], namespace="shop", server_minor_version=35)
    assert conditions(outcome)["Ready"] == (True, "Reconciled")
    assert outcome.config is not None
    assert outcome.config["compression"] == {"algorithm": "lz4", "level": 1, "chunkSize": 4 * 1024**2}
    assert outcome.config["cache"]["l1Size"] == 64 * 1024**2


def test_counts_matched_injected_and_missed_pods() -> None:
    first = decide_policy("web", SPEC, PROFILES, {}, [], namespace="shop", server_minor_version=35)
    assert first.plan is not None
    current = plan_digest(first.plan)
    pods = [
        PodSummary("a", {"app": "web"}, "web", current),
        PodSummary("b", {"app": "web"}, None, None),
        PodSummary("c", {"app": "db"}, None, None),
        PodSummary("d", {"app": "web"}, None, None, host_network=True),
    ]
    outcome = decide_policy("web", SPEC, PROFILES, {}, pods, namespace="shop", server_minor_version=35)
    assert (outcome.matched_pods, outcome.injected_pods, outcome.missed_pods) == (2, 1, ["b"])
    assert conditions(outcome)["Degraded"] == (True, "InjectionMissed")
    assert conditions(outcome)["RolloutRequired"] == (False, "UpToDate")


def test_pods_from_an_older_plan_need_a_rollout() -> None:
    pods = [PodSummary("a", {"app": "web"}, "web", "0123456789abcdef")]
    outcome = decide_policy("web", SPEC, PROFILES, {}, pods, namespace="shop", server_minor_version=35)
    assert outcome.stale_pods == ["a"]
    assert conditions(outcome)["RolloutRequired"] == (True, "PodsOutdated")
