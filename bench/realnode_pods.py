"""Pod start on the real node: an injected Deployment against its uninjected twin, in the same run.

Starts its own control plane with a real node and the chart installed (the operator as a pod, injecting the agent
image), then, alternating the order each round, applies a one-replica Deployment whose app is
``memories agent-check --watch`` (from the agent image) with and without the ``memories.dev/inject`` label, and
measures from ``kubectl apply``:

- pod IP assigned (the sandbox is up), the agent's ``/readyz`` answering at the pod IP (polled every 20 ms from
  this host), and the app's first line (its own clock, same machine);
- injection's added latency: injected app start minus the twin's, per round;
- after the rounds: the agent's RSS (its container cgroup's ``total_rss``) against its memory limit, idle and after
  the app wrote ``--fill`` bytes; the image's size.

Run: ``flock /tmp/memories-bench.lock .venv/bin/python bench/realnode_pods.py --rounds 5`` (root; after
``scripts/setup``). Prints one JSON document with every sample and the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent_image import parse_size_mb  # bench/ is the script's directory, first on sys.path

from memories.controlplane import LocalControlPlane, locate_binaries
from memories.controlplane.node import RealNode
from memories.controlplane.node.image_build import buildah_command
from memories.controlplane.node.images import NodeImages, locate_images
from memories.operator import constants

REPOSITORY = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def kubectl_json(cluster: LocalControlPlane, *args: str) -> Any:
    result = cluster.kubectl(*args, "-o", "json")
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


def apply(cluster: LocalControlPlane, *documents: dict[str, Any]) -> None:
    result = cluster.kubectl("apply", "-f", "-", input_text=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                       "items": list(documents)}))  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(result.stderr)


def deployment(name: str, image: str, *, inject: bool, fill: str) -> dict[str, Any]:
    labels = {"app": name, **({constants.INJECT_LABEL: constants.INJECT_ENABLED} if inject else {})}
    container = {"name": "app", "image": image, "imagePullPolicy": "Never",
                 "args": ["agent-check", "--fill", fill, "--watch", "--interval", "1"],
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "readOnlyRootFilesystem": True}}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
    }  # fmt: skip


def pod_of(cluster: LocalControlPlane, name: str) -> dict[str, Any] | None:
    items = kubectl_json(cluster, "get", "pods", "-n", NAMESPACE, "-l", f"app={name}")["items"]
    live = [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


def first_line_time(cluster: LocalControlPlane, pod: str) -> float | None:
    logs = cluster.kubectl("logs", pod, "-n", NAMESPACE, "-c", "app").stdout
    for line in logs.splitlines():
        if line.startswith("{"):
            return float(json.loads(line)["time"])
    return None


def readyz(ip: str) -> bool:
    try:
        with OPENER.open(f"http://{ip}:{constants.OPS_PORT}/readyz", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def one_start(cluster: LocalControlPlane, image: str, *, inject: bool, fill: str) -> dict[str, Any]:
    name = "injected" if inject else "twin"
    began = time.time()
    apply(cluster, deployment(name, image, inject=inject, fill=fill))
    sample: dict[str, Any] = {"injected": inject}
    deadline = time.monotonic() + 180
    pod = None
    while time.monotonic() < deadline:
        pod = pod_of(cluster, name)
        ip = (pod or {}).get("status", {}).get("podIP")
        if ip and "pod_ip" not in sample:
            sample["pod_ip"] = time.time() - began
        if ip and inject and "agent_ready" not in sample and readyz(ip):
            sample["agent_ready"] = time.time() - began
        if pod and "pod_ip" in sample and (not inject or "agent_ready" in sample):
            started = first_line_time(cluster, pod["metadata"]["name"])
            if started is not None:
                sample["app_started"] = started - began
                break
        time.sleep(0.02)
    else:
        raise RuntimeError(f"{name} did not start: {pod and pod.get('status')}")
    return sample


def delete(cluster: LocalControlPlane, name: str) -> None:
    cluster.kubectl("delete", "deployment", name, "-n", NAMESPACE, "--wait=true", timeout_seconds=120)
    deadline = time.monotonic() + 120
    while pod_of(cluster, name) is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def agent_memory(cluster: LocalControlPlane, pod: dict[str, Any]) -> dict[str, float]:
    """RSS and limit (MiB) of the agent container, from its memory cgroup on this machine."""
    assert cluster.node is not None
    status = next(s for s in pod["status"]["initContainerStatuses"] if s["name"] == constants.SIDECAR_CONTAINER_NAME)
    container_id = status["containerID"].split("//", 1)[1]
    root = Path("/sys/fs/cgroup/memory") / (cluster.node.instance.cgroup_name or "")
    [directory] = [path for path in root.rglob(container_id) if path.is_dir()]
    stat = dict(line.split() for line in (directory / "memory.stat").read_text().splitlines())
    return {
        "rss_mib": int(stat["total_rss"]) / 2**20,
        "max_usage_mib": int((directory / "memory.max_usage_in_bytes").read_text()) / 2**20,
        "limit_mib": int((directory / "memory.limit_in_bytes").read_text()) / 2**20,
    }


def image_sizes(images: Any) -> dict[str, float]:
    listing = subprocess.run(buildah_command("images", "--json"), capture_output=True, text=True, check=True)
    sizes = {}
    for entry in json.loads(listing.stdout):
        for name in entry.get("names") or []:
            sizes[name] = parse_size_mb(str(entry["size"]))
    return {
        "project_mb": sizes.get(images.project.name, 0.0),
        "agent_mb": sizes.get(images.agent.name, 0.0),
        "base_mb": sizes.get("localhost/memories/python:3.11-bookworm", 0.0),
        "project_archive_mib": images.project.path.stat().st_size / 2**20,
        "agent_archive_mib": images.agent.path.stat().st_size / 2**20,
    }


@contextlib.contextmanager
def cluster_with_chart(extra_env: dict[str, str] | None = None) -> Iterator[tuple[LocalControlPlane, NodeImages]]:
    """A control plane with a real node and the chart installed (the operator a pod of the project image, injecting
    the agent image); ``extra_env`` goes to the operator's environment."""
    binaries, images = locate_binaries(), locate_images()
    assert binaries.kubelet is not None and binaries.helm is not None
    assert images.project is not None and images.agent is not None
    workdir = Path(tempfile.mkdtemp(prefix="bench-realnode-"))
    with LocalControlPlane(binaries, workdir=workdir, node=RealNode.with_images(binaries.kubelet, images)) as cluster:
        repository, tag = images.project.name.rsplit(":", 1)
        environment = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HELM_CACHE_HOME": str(workdir / "h"),
                       "HELM_CONFIG_HOME": str(workdir / "h"), "HELM_DATA_HOME": str(workdir / "h")}  # fmt: skip
        settings = [f"extraEnv[{index}].name={name}" for index, name in enumerate(extra_env or {})]
        values = [f"extraEnv[{index}].value={value}" for index, value in enumerate((extra_env or {}).values())]
        subprocess.run(
            [str(binaries.helm), "install", "memories-optimizer", str(REPOSITORY / "helm" / "memories-optimizer"),
             "-n", "memories-system", "--create-namespace", "--set", f"image.repository={repository}",
             "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never", "--set", "replicas=1",
             "--set", f"sidecarImage={images.agent.name}",
             *[argument for setting in settings for argument in ("--set", setting)],
             *[argument for value in values for argument in ("--set-string", value)],
             "--set", "podDisruptionBudget.enabled=false", "--wait", "--timeout", "180s"],
            check=True, env=environment, capture_output=True,
        )  # fmt: skip
        yield cluster, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fill", default="8Mi", help="bytes the app writes through the agent before idling")
    arguments = parser.parse_args()
    with cluster_with_chart() as (cluster, images):
        assert images.project is not None and images.agent is not None
        policy = {"apiVersion": f"{constants.GROUP}/{constants.VERSION}", "kind": "CachePolicy",
                  "metadata": {"name": "bench", "namespace": NAMESPACE},
                  "spec": {"selector": {"matchLabels": {"app": "injected"}}, "tiers": {"l1Size": "64Mi"}}}  # fmt: skip
        apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}, policy)
        time.sleep(5)  # the policy Ready and in the webhook's index
        samples = []
        for round_number in range(arguments.rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for inject in order:
                sample = one_start(cluster, images.agent.name, inject=inject, fill=arguments.fill)
                if inject and round_number == arguments.rounds - 1:
                    pod = pod_of(cluster, "injected")
                    assert pod is not None
                    time.sleep(5)  # the app's fill done; the agent idle
                    sample["memory"] = agent_memory(cluster, pod)
                delete(cluster, "injected" if inject else "twin")
                samples.append({"round": round_number, **sample})
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        injected = [s for s in samples if s["injected"]]
        twins = [s for s in samples if not s["injected"]]
        added = [i["app_started"] - t["app_started"] for i, t in zip(injected, twins, strict=True)]
        summary = {
            "load_average": os.getloadavg(),
            "rounds": arguments.rounds,
            "median_injected_agent_ready_s": statistics.median(s["agent_ready"] for s in injected),
            "median_injected_app_started_s": statistics.median(s["app_started"] for s in injected),
            "median_twin_app_started_s": statistics.median(s["app_started"] for s in twins),
            "median_added_by_injection_s": statistics.median(added),
            "agent_memory": injected[-1].get("memory"),
            "image": image_sizes(images),
        }
        print(json.dumps({"summary": summary, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
