"""What the operator produces for a set of policies, compared with golden files: the rendered sidecar config
(the ConfigMap's text), the injected pod and the pod-spec hash stamped on it.

A change here changes what running clusters see: a new config hash reloads every agent, a new pod-spec hash marks
every injected pod as outdated (RolloutRequired, or restarts with ``rollout: Automatic``). Rewrite the files with
``MEMORIES_UPDATE_GOLDEN=1`` only for a change that is meant, and say so in the commit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.operator import constants
from memories.operator.api import parse_cache_policy, parse_compression_profile, parse_memory_pool
from memories.operator.injection import apply_injection, plan_for
from memories.operator.render import config_document, config_hash, render_sidecar_config, restart_config_hash

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).resolve().parents[3] / "crds" / "examples"
SELECTOR = {"matchLabels": {"app": "web"}}

#: Synthetic cases: (policy spec, profile spec or None, pool spec or None).
CASES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = {
    "minimal": ({"selector": SELECTOR, "tiers": {}}, None, None),
    "l1-only-lfu": ({"selector": SELECTOR, "tiers": {"l1Size": "64Mi"}, "evictionPolicy": "lfu"}, None, None),
    "l2-custom-path": (
        {"selector": SELECTOR, "tiers": {"l1Size": 1048576, "l2Size": "2GB", "l2Path": "/data/cache/"}},
        None,
        None,
    ),
    "l3-without-size": (
        {"selector": SELECTOR, "tiers": {"l1Size": "128Mi", "l3": {"secretRef": {"name": "redis", "key": "url"}}}},
        None,
        None,
    ),
    "l3-with-size-and-ttl": (
        {
            "selector": SELECTOR,
            "tiers": {"l1Size": "128Mi", "l3": {"secretRef": {"name": "redis", "key": "uri"}, "size": "50Gi"}},
            "defaultTtl": "1h30m",
        },
        None,
        None,
    ),
    "prefetch-volume-path": (
        {"selector": SELECTOR, "tiers": {}, "prefetch": {"enabled": True, "model": {"volumePath": "/models/m.onnx"}}},
        None,
        None,
    ),
    "profile-zstd-dedup-cdc": (
        {"selector": SELECTOR, "tiers": {"l2Size": "1Gi"}, "compressionProfileRef": {"name": "p"}},
        {"algorithm": "zstd", "level": 3, "chunkSize": "8Mi", "dedup": {"enabled": True, "chunking": "cdc"}},
        None,
    ),
    "profile-lossy-target": (
        {"selector": SELECTOR, "tiers": {}, "compressionProfileRef": {"name": "p"}},
        {"algorithm": "jpeg2000", "lossy": {"quality": 80, "targetSize": "512Ki"}},
        None,
    ),
    "pool-private-with-resources": (
        {
            "selector": SELECTOR,
            "tiers": {"l1Size": "512Mi"},
            "memoryPoolRef": {"name": "p"},
            "sidecar": {"image": "example/agent:2", "resources": {"limits": {"memory": "128Mi", "cpu": 1}}},
        },
        None,
        {"blockSizes": ["4Ki", "1.5Mi"], "totalSize": "64Mi", "shared": False},
    ),
}


def _examples() -> dict[str, tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]]:
    """Every CachePolicy of crds/examples with the profile and pool it names from the same files."""
    documents = [
        document
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for document in documents:
        if "spec" in document:
            by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document["spec"]
    cases = {}
    for name, spec in by_kind["CachePolicy"].items():
        profile = by_kind["CompressionProfile"].get((spec.get("compressionProfileRef") or {}).get("name", ""))
        pool = by_kind["MemoryPool"].get((spec.get("memoryPoolRef") or {}).get("name", ""))
        cases[f"example-{name}"] = (spec, profile, pool)
    return cases


ALL_CASES = {**CASES, **_examples()}


def produce(policy_spec: dict[str, Any], profile: dict[str, Any] | None, pool: dict[str, Any] | None) -> str:
    """The golden text of one case: config document, its hash, and the pod as injected (native and plain)."""
    policy = parse_cache_policy(policy_spec)
    parsed_profile = None if profile is None else parse_compression_profile(profile)
    parsed_pool = None if pool is None else parse_memory_pool(pool)
    config = render_sidecar_config(policy, parsed_profile, parsed_pool, owner="shop/web")
    pods = {}
    for minor in (35, 28):
        pod: dict[str, Any] = {
            "metadata": {"name": "web-1", "labels": {"app": "web", constants.INJECT_LABEL: "enabled"}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        }
        plan = plan_for(
            "web", policy, parsed_pool, server_minor_version=minor, restart_config_hash=restart_config_hash(config)
        )
        apply_injection(pod, plan)
        pods[f"minor-{minor}"] = pod
    golden = {"configDocument": config_document(config), "configHash": config_hash(config), "pods": pods}
    return yaml.dump(golden, Dumper=_LiteralDumper, sort_keys=True, width=120)


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings (the config document) as literal blocks, so a diff reads line by line."""


_LiteralDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_rendering_and_injection_match_the_golden_file(name: str) -> None:
    produced = produce(*ALL_CASES[name])
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("MEMORIES_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(produced)
    assert golden.is_file(), f"{golden} missing: run with MEMORIES_UPDATE_GOLDEN=1 to create it"
    assert produced == golden.read_text()
