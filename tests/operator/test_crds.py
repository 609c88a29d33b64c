"""The CRDs in crds/ against the real kube-apiserver: install, examples, validation messages, explain, categories."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.controlplane import LocalControlPlane

pytestmark = pytest.mark.controlplane

CRD_DIRECTORY = Path(__file__).resolve().parents[2] / "crds"
EXAMPLES = sorted((CRD_DIRECTORY / "examples").glob("*.yaml"))
CRD_FILES = sorted(CRD_DIRECTORY.glob("*.yaml"))
API_VERSION = "optimization.memories.dev/v1alpha1"


@pytest.fixture
def namespace(control_plane: LocalControlPlane, installed_crds: object) -> Iterator[str]:
    """A fresh namespace with the CRDs installed; deleted (without waiting) afterwards."""
    name = f"crds-{uuid.uuid4().hex[:8]}"
    created = control_plane.kubectl("create", "namespace", name)
    assert created.returncode == 0, created.stderr
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def apply(control_plane: LocalControlPlane, namespace: str, document: dict[str, Any]) -> tuple[int, str]:
    """``kubectl apply`` one object; returns (exit status, stdout + stderr)."""
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(document))
    return result.returncode, result.stdout + result.stderr


def cache_policy(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "tiers": {"l1Size": "1Gi"}}
    base.update(spec)
    return {"apiVersion": API_VERSION, "kind": "CachePolicy", "metadata": {"name": name}, "spec": base}


def memory_pool(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "MemoryPool", "metadata": {"name": name}, "spec": spec}


def compression_profile(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "CompressionProfile", "metadata": {"name": name}, "spec": spec}


def test_every_crd_becomes_established(control_plane: LocalControlPlane, installed_crds: object) -> None:
    for path in CRD_FILES:
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        status = control_plane.kubectl(
            "get", "crd", name, "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        )
        assert status.stdout == "True", f"{name}: {status.stdout!r} {status.stderr}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_applies_cleanly(control_plane: LocalControlPlane, namespace: str, example: Path) -> None:
    documents = [document for document in yaml.safe_load_all(example.read_text()) if document]
    namespaced_elsewhere = any("namespace" in document["metadata"] for document in documents)
    target = [] if namespaced_elsewhere else ["-n", namespace]
    result = control_plane.kubectl("apply", *target, "-f", str(example))
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout or "unchanged" in result.stdout or "configured" in result.stdout


#: (test id, document, the part of kubectl's message a user reads)
REJECTED_CASES = [
    (
        "eviction-policy-enum",
        cache_policy("bad-eviction", evictionPolicy="random"),
        'spec.evictionPolicy: Unsupported value: "random": supported values: "lru", "lfu", "s3fifo"',
    ),
    (
        "size-pattern",
        cache_policy("bad-size", tiers={"l1Size": "1 gigabyte"}),
        "spec.tiers.l1Size in body should match",
    ),
    ("l1-size-zero", cache_policy("bad-zero", tiers={"l1Size": "0Mi"}), "l1Size must be greater than zero"),
    (
        "sentinel-needs-master-name",
        cache_policy("bad-sentinel", tiers={"l1Size": "1Gi", "l3": {"secretRef": {"name": "r"}, "mode": "sentinel"}}),
        "spec.tiers.l3.masterName: Required value: masterName is required in sentinel mode",
    ),
    (
        "l3-mode-enum",
        cache_policy("bad-mode", tiers={"l1Size": "1Gi", "l3": {"secretRef": {"name": "r"}, "mode": "replicated"}}),
        'spec.tiers.l3.mode: Unsupported value: "replicated"',
    ),
    (
        "l3-auth-needs-a-password",
        cache_policy("bad-auth", tiers={"l1Size": "1Gi", "l3": {"secretRef": {"name": "r"}, "auth": {}}}),
        "spec.tiers.l3.auth.passwordSecretRef: Required value",
    ),
    (
        "l2-path-needs-l2-size",
        cache_policy("bad-l2path", tiers={"l1Size": "1Gi", "l2Path": "/data"}),
        "spec.tiers.l2Path: Required value: l2Path requires l2Size",
    ),
    (
        "l2-smaller-than-l1",
        cache_policy("bad-l2size", tiers={"l1Size": "1Gi", "l2Size": "512MB"}),
        "spec.tiers.l2Size: Invalid value: l2Size must be at least l1Size",
    ),
    (
        "model-configmap-xor-volume",
        cache_policy(
            "bad-model",
            prefetch={"enabled": True, "model": {"configMap": {"name": "m", "key": "k"}, "volumePath": "/m.onnx"}},
        ),
        "model takes exactly one of configMap or volumePath",
    ),
    (
        "prefetch-needs-model",
        cache_policy("bad-prefetch", prefetch={"enabled": True}),
        "prefetch.enabled requires prefetch.model",
    ),
    ("empty-selector", cache_policy("bad-selector", selector={}), "selector must set matchLabels or matchExpressions"),
    ("rollout-enum", cache_policy("bad-rollout", rollout="Sometimes"), 'spec.rollout: Unsupported value: "Sometimes"'),
    (
        "l2-volume-needs-l2-size",
        cache_policy("bad-l2volume", tiers={"l1Size": "1Gi", "l2Volume": {"hostPath": {"path": "/srv/memories"}}}),
        "spec.tiers.l2Volume: Required value: l2Volume requires l2Size",
    ),
    (
        "l2-volume-one-source",
        cache_policy(
            "bad-l2sources",
            tiers={
                "l1Size": "1Gi",
                "l2Size": "4Gi",
                "l2Volume": {"hostPath": {"path": "/srv"}, "persistentVolumeClaim": {"claimName": "cache"}},
            },
        ),
        "l2Volume takes exactly one of persistentVolumeClaim or hostPath",
    ),
    (
        "l2-volume-claim-name",
        cache_policy(
            "bad-claim",
            tiers={"l1Size": "1Gi", "l2Size": "4Gi", "l2Volume": {"persistentVolumeClaim": {"claimName": "No_Such"}}},
        ),
        "spec.tiers.l2Volume.persistentVolumeClaim.claimName in body should match",
    ),
    (
        "l2-volume-host-path-absolute",
        cache_policy(
            "bad-hostpath", tiers={"l1Size": "1Gi", "l2Size": "4Gi", "l2Volume": {"hostPath": {"path": "srv"}}}
        ),
        "spec.tiers.l2Volume.hostPath.path in body should match",
    ),
    (
        "lossy-needs-jpeg2000",
        compression_profile("bad-lossy", algorithm="zstd", lossy={"quality": 50}),
        "spec.lossy: Forbidden: lossy settings require algorithm jpeg2000",
    ),
    ("lz4-level-range", compression_profile("bad-level", algorithm="lz4", level=20), "lz4 levels are 0 to 16"),
    (
        "quality-range",
        compression_profile("bad-quality", algorithm="jpeg2000", lossy={"quality": 101}),
        "spec.lossy.quality in body should be less than or equal to 100",
    ),
    (
        "chunking-enum",
        compression_profile("bad-chunking", dedup={"enabled": True, "chunking": "rolling"}),
        'spec.dedup.chunking: Unsupported value: "rolling"',
    ),
    (
        "block-sizes-decreasing",
        memory_pool("bad-order", blockSizes=["64Ki", "4Ki"], totalSize="1Gi"),
        "blockSizes must be greater than zero and strictly increasing",
    ),
    (
        "block-sizes-equal-in-other-units",
        memory_pool("bad-duplicate", blockSizes=[4096, "4Ki"], totalSize="1Gi"),
        "blockSizes must be greater than zero and strictly increasing",
    ),
    (
        "total-below-largest-block",
        memory_pool("bad-total", blockSizes=["4Ki", "1Gi"], totalSize="512MB"),
        "spec.totalSize: Invalid value: totalSize must be at least the largest block size",
    ),
]
REJECTED = [pytest.param(document, message, id=case) for case, document, message in REJECTED_CASES]


@pytest.mark.parametrize(("document", "message"), REJECTED)
def test_invalid_resource_is_rejected_with_a_clear_message(
    control_plane: LocalControlPlane, namespace: str, document: dict[str, Any], message: str
) -> None:
    status, output = apply(control_plane, namespace, document)
    assert status != 0
    assert message in output


ACCEPTED = [
    pytest.param(cache_policy("int-sizes", tiers={"l1Size": 1073741824, "l2Size": "1GB"}), id="bytes-and-1024-units"),
    pytest.param(memory_pool("fractional", blockSizes=["4Ki", "1.5Mi", "2MB"], totalSize="2MB"), id="fractional"),
    pytest.param(compression_profile("lossy", algorithm="jpeg2000", lossy={"targetSize": "512Ki"}), id="lossy"),
    pytest.param(
        cache_policy(
            "persistent-l2",
            tiers={"l1Size": "1Gi", "l2Size": "10Gi", "l2Volume": {"persistentVolumeClaim": {"claimName": "cache"}}},
        ),
        id="l2-on-a-claim",
    ),
    pytest.param(cache_policy("wtinylfu", evictionPolicy="wtinylfu"), id="every-policy-of-the-registry"),
]


@pytest.mark.parametrize("document", ACCEPTED)
def test_valid_edge_case_is_accepted(
    control_plane: LocalControlPlane, namespace: str, document: dict[str, Any]
) -> None:
    status, output = apply(control_plane, namespace, document)
    assert status == 0, output


def test_server_fills_in_defaults(control_plane: LocalControlPlane, namespace: str) -> None:
    status, output = apply(control_plane, namespace, cache_policy("defaults", tiers={}))
    assert status == 0, output
    spec = json.loads(control_plane.kubectl("get", "cpol", "defaults", "-n", namespace, "-o", "json").stdout)["spec"]
    assert (spec["tiers"]["l1Size"], spec["evictionPolicy"], spec["rollout"]) == ("256Mi", "lru", "Manual")


def test_explain_reads_the_tier_descriptions(control_plane: LocalControlPlane, installed_crds: object) -> None:
    result = control_plane.kubectl("explain", "cachepolicy.spec.tiers")
    assert result.returncode == 0, result.stderr
    for expected in ("In-memory (L1) tier per pod", "Requires l2Size", "Shared Redis (L3) tier"):
        assert expected in " ".join(result.stdout.split())


def test_explain_describes_the_persistent_l2_volume(control_plane: LocalControlPlane, installed_crds: object) -> None:
    result = control_plane.kubectl("explain", "cachepolicy.spec.tiers.l2Volume")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for expected in (
        "outlive the pod",
        "writable by uid 65532",
        "persistentVolumeClaim",
        "hostPath",
        "Requires l2Size",
    ):
        assert expected in text
    claim = control_plane.kubectl("explain", "cachepolicy.spec.tiers.l2Volume.persistentVolumeClaim.claimName")
    assert "ReadWriteMany" in " ".join(claim.stdout.split())


def test_get_memories_lists_all_three_kinds(control_plane: LocalControlPlane, namespace: str) -> None:
    for document in (
        cache_policy("listed"),
        memory_pool("listed", blockSizes=["4Ki"], totalSize="1Mi"),
        compression_profile("listed"),
    ):
        assert apply(control_plane, namespace, document)[0] == 0
    names = control_plane.kubectl("get", "memories", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(names) == [
        "cachepolicy.optimization.memories.dev/listed",
        "compressionprofile.optimization.memories.dev/listed",
        "memorypool.optimization.memories.dev/listed",
    ]


def test_status_subresource_drives_the_ready_column(control_plane: LocalControlPlane, namespace: str) -> None:
    assert apply(control_plane, namespace, cache_policy("status"))[0] == 0
    status = {
        "status": {
            "observedGeneration": 1,
            "matchedPods": 3,
            "injectedPods": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ConfigRendered",
                    "message": "sidecar config rendered",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        }
    }
    patched = control_plane.kubectl(
        "patch", "cpol", "status", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    assert patched.returncode == 0, patched.stderr
    table = control_plane.kubectl("get", "cpol", "status", "-n", namespace).stdout.splitlines()
    row = dict(zip(table[0].split(), table[1].split(), strict=False))
    assert (row["READY"], row["PODS"], row["MATCHED"], row["L1"]) == ("True", "2", "3", "1Gi")


def test_status_fields_the_operator_writes_are_kept(control_plane: LocalControlPlane, namespace: str) -> None:
    assert apply(control_plane, namespace, cache_policy("kept"))[0] == 0
    written: dict[str, object] = {"observedGeneration": 1, "matchedPods": 3, "injectedPods": 2, "missedPods": 1}
    written |= {"configMap": "memories-kept-config", "configHash": "0123abcd"}
    patched = control_plane.kubectl(
        "patch", "cpol", "kept", "-n", namespace, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": written}),
    )  # fmt: skip
    assert patched.returncode == 0, patched.stderr
    stored = json.loads(control_plane.kubectl("get", "cpol", "kept", "-n", namespace, "-o", "json").stdout)["status"]
    assert stored == written


def test_condition_reason_must_be_camel_case(control_plane: LocalControlPlane, namespace: str) -> None:
    assert apply(control_plane, namespace, cache_policy("reason"))[0] == 0
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "missing profile",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    patched = control_plane.kubectl(
        "patch",
        "cpol",
        "reason",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"conditions": [condition]}}),
    )
    assert patched.returncode != 0
    assert "status.conditions[0].reason" in patched.stderr
