"""In-place agent upgrades on the real node: how long ``127.0.0.1:6380`` is unavailable to the app, per upgrade.

One control plane with a real node and the chart (as ``bench/realnode_pods.py``), a CachePolicy with
``upgrade: InPlace`` and the policy of the end-to-end tests (16 MiB L1, L2 on its volume, a shared arena), and one
opted-in Deployment whose app is ``memories agent-check --arena --fill 40Mi --watch``: it PINGs the agent every
20 ms and logs each stretch without an answer. Then ``--upgrades`` times the policy's ``sidecar.image`` flips
between the agent image and its ``-next`` twin, ``--spacing`` seconds apart; each upgrade is timed from the patch
to the agent Ready on the new image, and the outages the app logged during it are summed.

The spacing matters: the kubelet keys its restart back-off by pod, container, image and resources
(``GetBackoffKey`` in ``pkg/kubelet/kuberuntime/helpers.go``) and records a key each time it starts a container
over an exited one, so switching back to an image the agent ran less than 10 s before (the initial back-off,
doubling per repeat) waits the back-off out. The summary counts the pod's ``BackOff`` events.

Run: ``flock /tmp/memories-bench.lock .venv/bin/python bench/realnode_upgrade.py --upgrades 5`` (root; after
``scripts/setup``). Prints one JSON document with every upgrade and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.e2e.realnode_workloads: the e2e manifests

from realnode_pods import cluster_with_chart

from memories.controlplane import LocalControlPlane
from memories.operator import constants
from tests.e2e.realnode_workloads import (
    container_status,
    deployment,
    log_events,
    policy_objects,
    ready_pod,
    wait_for_event,
)
from tests.operator.kube_helpers import apply, condition, get, wait_for

NAMESPACE = "bench-upgrade"


def outages(cluster: LocalControlPlane, pod: str) -> list[float]:
    """Every outage (seconds) the app has logged so far."""
    return [entry["seconds"] for entry in log_events(cluster, NAMESPACE, pod) if entry["event"] == "outage"]


def upgrade(cluster: LocalControlPlane, pod: str, image: str, restarts: int) -> dict[str, Any]:
    """Patch the policy's agent image to ``image``; wait for the agent's ``restarts``-th restart, Ready on it."""
    seen = len(outages(cluster, pod))
    began = time.monotonic()
    patch = json.dumps({"spec": {"sidecar": {"image": image}}})
    result = cluster.kubectl("patch", "cachepolicy", "checker", "-n", NAMESPACE, "--type=merge", "-p", patch)
    assert result.returncode == 0, result.stderr

    def done() -> bool:
        agent = container_status(get(cluster, "pod", pod, NAMESPACE) or {}, constants.SIDECAR_CONTAINER_NAME)
        return bool(agent.get("ready") and agent["restartCount"] == restarts and agent["image"].endswith(image))

    wait_for(done, timeout_seconds=180, what=f"the agent Ready on {image}")
    ready_seconds = time.monotonic() - began
    # The app logs an outage when a PING is answered again: give it a moment past the agent's readiness.
    logged = wait_for(lambda: (found := outages(cluster, pod)[seen:]) and found, timeout_seconds=30,
                      what="the app's outage line")  # fmt: skip
    return {"image": image, "patch_to_ready_s": ready_seconds, "outages_s": logged, "unavailable_s": sum(logged)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrades", type=int, default=5)
    parser.add_argument("--spacing", type=float, default=15.0, help="seconds between an agent Ready and the next patch")
    arguments = parser.parse_args()
    with cluster_with_chart({"MEMORIES_RESYNC_SECONDS": "3"}) as (cluster, images):
        assert images.agent is not None and images.agent_next is not None
        apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        apply(cluster, *policy_objects(NAMESPACE, upgrade="InPlace", sidecar={"image": images.agent.name}))
        wait_for(lambda: (c := condition(get(cluster, "cachepolicy", "checker", NAMESPACE), "Ready"))
                 and c["status"] == "True", timeout_seconds=60, what="the policy Ready")  # fmt: skip
        apply(cluster, deployment(NAMESPACE, images.agent.name))
        pod = ready_pod(cluster, NAMESPACE, "app=checker")["metadata"]["name"]
        wait_for_event(cluster, NAMESPACE, pod, "fill", timeout=180)
        samples = []
        for number in range(arguments.upgrades):
            time.sleep(arguments.spacing if number else 0.0)
            image = (images.agent_next if number % 2 == 0 else images.agent).name
            samples.append(upgrade(cluster, pod, image, number + 1))
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        app = container_status(get(cluster, "pod", pod, NAMESPACE) or {}, "app")
        events = cluster.kubectl("get", "events", "-n", NAMESPACE, "--field-selector", "reason=BackOff", "-o", "name")
        summary = {
            "load_average": os.getloadavg(),
            "upgrades": arguments.upgrades,
            "app_restart_count": app["restartCount"],
            "spacing_s": arguments.spacing,
            "kubelet_backoff_events": len(events.stdout.split()),
            "median_unavailable_s": statistics.median(sample["unavailable_s"] for sample in samples),
            "max_unavailable_s": max(sample["unavailable_s"] for sample in samples),
            "median_patch_to_ready_s": statistics.median(sample["patch_to_ready_s"] for sample in samples),
        }
        print(json.dumps({"summary": summary, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
