"""HA: two operator replicas in kopf peering never both reconcile; when the leader goes, the other takes over."""

from __future__ import annotations

from pathlib import Path

from memories.controlplane import LocalControlPlane
from memories.operator import constants
from memories.operator.local import LocalOperator
from tests.operator.kube_helpers import apply, condition, get, namespace, wait_for

HANDLED = "Handler 'policy_changed' succeeded"


def policy(name: str) -> dict[str, object]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "CachePolicy",
        "metadata": {"name": name, "namespace": "peering"},
        "spec": {"selector": {"matchLabels": {"app": name}}, "tiers": {"l1Size": "16Mi"}},
    }


def is_ready(control_plane: LocalControlPlane, name: str) -> bool:
    ready = condition(get(control_plane, "cachepolicy", name, "peering"), "Ready")
    return bool(ready and ready["status"] == "True")


def test_only_the_higher_priority_replica_reconciles_until_it_leaves(
    control_plane: LocalControlPlane, installed_crds: object, tmp_path: Path
) -> None:
    leader = LocalOperator(control_plane.kubeconfig, control_plane.kubectl, tmp_path / "leader", peering_priority=200)
    follower = LocalOperator(
        control_plane.kubeconfig, control_plane.kubectl, tmp_path / "follower", peering_priority=100
    )
    apply(control_plane, namespace("peering"))
    with follower:
        leader.start()
        try:
            wait_for(lambda: "Pausing operations in favour of" in follower.log_tail(400), what="the follower to pause",
                     describe=follower.log_tail)  # fmt: skip
            paused_at = len(follower.log_tail(100_000).splitlines())  # earlier tests' policies were handled before
            apply(control_plane, policy("first"))
            wait_for(lambda: is_ready(control_plane, "first"), what="the leader to reconcile", describe=leader.log_tail)
            assert HANDLED in leader.log_tail(400)
            since_pause = "\n".join(follower.log_tail(100_000).splitlines()[paused_at:])
            assert HANDLED not in since_pause, "the paused follower reconciled too"
            resumed_before = follower.log_tail(400).count("Resuming operations")
        finally:
            leader.stop(unregister_webhook=False)
        wait_for(lambda: follower.log_tail(400).count("Resuming operations") > resumed_before,
                 what="the follower to take over", timeout_seconds=90, describe=follower.log_tail)  # fmt: skip
        apply(control_plane, policy("second"))
        wait_for(
            lambda: is_ready(control_plane, "second"), what="the follower to reconcile", describe=follower.log_tail
        )
