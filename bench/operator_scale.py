"""Operator at scale against the real local kube-apiserver: 200 CachePolicies and 2,000 opted-in pods.

Reports, in one run:
- webhook latency as the API server measured it (``apiserver_admission_webhook_admission_duration_seconds``,
  bucketed) and as a direct client measures it (AdmissionReview POSTs to the webhook, p50/p99);
- time from creating the policies until every one is Ready;
- the operator process's peak RSS.

Run: .venv/bin/python bench/operator_scale.py [--policies 200 --pods 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from memories.controlplane import LocalControlPlane
from memories.operator import constants
from memories.operator.local import LocalOperator, install_crds
from memories.operator.webhook_config import WEBHOOK_PATH


def kubectl_apply(control_plane: LocalControlPlane, items: list[dict[str, object]]) -> None:
    result = control_plane.kubectl(
        "apply", "--server-side", "-f", "-", input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
        timeout_seconds=600,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(result.stderr)


def policies(count: int, namespaces: int) -> list[dict[str, object]]:
    return [
        {
            "apiVersion": constants.API_VERSION,
            "kind": "CachePolicy",
            "metadata": {"name": f"policy-{index}", "namespace": f"scale-{index % namespaces}"},
            "spec": {"selector": {"matchLabels": {"app": f"app-{index}"}}, "tiers": {"l1Size": "64Mi"}},
        }
        for index in range(count)
    ]


def all_ready(control_plane: LocalControlPlane, expected: int) -> bool:
    listed = json.loads(control_plane.kubectl("get", "cachepolicies", "-A", "-o", "json", timeout_seconds=120).stdout)
    ready = sum(
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (item.get("status") or {}).get("conditions", [])
        )
        for item in listed["items"]
    )
    return ready >= expected


def create_pods(control_plane: LocalControlPlane, count: int, policy_count: int, namespaces: int) -> float:
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"pod-{index}",
                "namespace": f"scale-{(index % policy_count) % namespaces}",
                "labels": {constants.INJECT_LABEL: constants.INJECT_ENABLED, "app": f"app-{index % policy_count}"},
            },
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        }
        for index in range(count)
    ]
    started = time.perf_counter()
    batches = [pods[start : start + 100] for start in range(0, count, 100)]
    with ThreadPoolExecutor(max_workers=4) as executor:
        list(executor.map(lambda batch: kubectl_apply(control_plane, batch), batches))
    return time.perf_counter() - started


def direct_webhook_latencies(operator: LocalOperator, samples: int) -> list[float]:
    """Latency of AdmissionReview POSTs over one kept-alive TLS connection, as the API server sends them."""
    context = ssl.create_default_context(cadata=operator.certificate_authority.certificate_pem.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", operator.webhook_port, context=context, timeout=10)
    latencies = []
    for index in range(samples):
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": str(uuid.uuid4()),
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "scale-0",
                "operation": "CREATE",
                "userInfo": {"username": "bench"},
                "object": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"direct-{index}", "namespace": "scale-0",
                                 "labels": {constants.INJECT_LABEL: constants.INJECT_ENABLED, "app": "app-0"}},
                    "spec": {"containers": [{"name": "app", "image": "x"}]},
                },
            },
        }  # fmt: skip
        started = time.perf_counter()
        connection.request("POST", WEBHOOK_PATH, json.dumps(review), {"Content-Type": "application/json"})
        body = json.loads(connection.getresponse().read())
        latencies.append(time.perf_counter() - started)
        if not body["response"]["allowed"] or "patch" not in body["response"]:
            raise SystemExit(f"webhook did not inject: {body}")
    connection.close()
    return latencies


def api_server_webhook_histogram(control_plane: LocalControlPlane) -> dict[str, float]:
    text = control_plane.kubectl("get", "--raw", "/metrics", timeout_seconds=60).stdout
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        is_ours = 'name="inject.memories.dev"' in line and 'type="admit"' in line
        if line.startswith("apiserver_admission_webhook_admission_duration_seconds_bucket") and is_ours:
            bound = float(line.split('le="')[1].split('"')[0])  # float() reads "+Inf" too
            buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    total = max(buckets.values(), default=0.0)
    quantiles = {}
    for quantile in (0.5, 0.99):
        quantiles[f"p{int(quantile * 100)}_upper_bound_s"] = next(
            (bound for bound, count in sorted(buckets.items()) if count >= quantile * total), float("nan")
        )
    quantiles["requests"] = total
    return quantiles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--direct-samples", type=int, default=500)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, LocalControlPlane(workdir=Path(workdir)) as control_plane:
        install_crds(control_plane.kubectl)
        kubectl_apply(control_plane, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"scale-{n}"}}
                                      for n in range(arguments.namespaces)])  # fmt: skip
        operator = LocalOperator(control_plane.kubeconfig, control_plane.kubectl, Path(workdir) / "operator",
                                 resync_seconds=30.0)  # fmt: skip
        with operator:
            process = psutil.Process(operator._process.pid if operator._process else 0)
            peak_rss = process.memory_info().rss
            started = time.perf_counter()
            kubectl_apply(control_plane, policies(arguments.policies, arguments.namespaces))
            print(f"... {arguments.policies} policies applied, waiting for Ready", file=sys.stderr)
            while not all_ready(control_plane, arguments.policies):
                peak_rss = max(peak_rss, process.memory_info().rss)
                time.sleep(1)
            time_to_ready = time.perf_counter() - started
            print(f"... all Ready after {time_to_ready:.1f}s; creating {arguments.pods} pods", file=sys.stderr)
            pods_seconds = create_pods(control_plane, arguments.pods, arguments.policies, arguments.namespaces)
            peak_rss = max(peak_rss, process.memory_info().rss)
            histogram = api_server_webhook_histogram(control_plane)
            direct = direct_webhook_latencies(operator, arguments.direct_samples)
            peak_rss = max(peak_rss, process.memory_info().rss)
    direct_sorted = sorted(direct)
    p99 = direct_sorted[int(0.99 * (len(direct_sorted) - 1))]
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| policies until all Ready | {time_to_ready:.1f} s for {arguments.policies} | — |")
    print(f"| {arguments.pods} opted-in pods created (kubectl, 4 parallel batches) | {pods_seconds:.1f} s | — |")
    print(
        f"| webhook latency seen by kube-apiserver (histogram bucket upper bounds) | p50 ≤ {histogram['p50_upper_bound_s'] * 1000:.0f} ms, p99 ≤ {histogram['p99_upper_bound_s'] * 1000:.0f} ms over {histogram['requests']:.0f} calls | p99 ≤ 20 ms |"
    )
    print(
        f"| webhook latency, direct AdmissionReview POSTs (one kept-alive TLS connection) | p50 {statistics.median(direct) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(direct)} | p99 ≤ 20 ms |"
    )
    print(f"| operator peak RSS | {peak_rss / 2**20:.0f} MiB | ≤ 150 MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
