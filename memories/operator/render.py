"""Render the sidecar's config file from a CachePolicy and the profile and pool it references.

The output is the document that ``memories sidecar --config`` reads (see docs/sidecar-config.md);
the operator stores it in a ConfigMap owned by the policy. Secrets never enter it: the L3 URL
reaches the sidecar as the ``MEMORIES_L3_URL`` environment variable from a secretKeyRef.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from memories.operator import constants
from memories.operator.specs import CachePolicySpec, CompressionProfileSpec, MemoryPoolSpec

#: Annotation on the rendered ConfigMap: the digest of the config it holds.
CONFIG_HASH_ANNOTATION = "memories.dev/config-hash"


def _cache_section(policy: CachePolicySpec) -> dict[str, Any]:
    cache: dict[str, Any] = {"l1Size": policy.l1_size_bytes, "evictionPolicy": policy.eviction_policy}
    if policy.l2_size_bytes:
        cache["l2Size"] = policy.l2_size_bytes
        cache["l2Path"] = f"{policy.l2_mount_path}/l2"
    if policy.l3_secret is not None:
        # No URL here: the sidecar reads MEMORIES_L3_URL, which the pod gets from the Secret.
        cache["l3"] = {"size": policy.l3_size_bytes} if policy.l3_size_bytes else {}
    if policy.default_ttl_seconds is not None:
        cache["defaultTtl"] = policy.default_ttl_seconds
    return cache


def _compression_sections(profile: CompressionProfileSpec, l2_mount_path: str) -> dict[str, Any]:
    compression: dict[str, Any] = {"algorithm": profile.algorithm, "chunkSize": profile.chunk_size_bytes}
    if profile.level is not None:
        compression["level"] = profile.level
    if profile.lossy_quality is not None or profile.lossy_target_size_bytes is not None:
        compression["lossy"] = {
            key: value
            for key, value in (("quality", profile.lossy_quality), ("targetSize", profile.lossy_target_size_bytes))
            if value is not None
        }
    sections: dict[str, Any] = {"compression": compression}
    if profile.dedup_enabled:
        sections["dedup"] = {
            "enabled": True,
            "blockSize": profile.dedup_block_size_bytes,
            "chunking": profile.dedup_chunking,
            "storePath": f"{l2_mount_path}/dedup",
        }
    return sections


def _pool_section(pool: MemoryPoolSpec) -> dict[str, Any]:
    section: dict[str, Any] = {"blockSizes": list(pool.block_sizes), "totalSize": pool.total_size_bytes}
    if pool.shared:
        section["path"] = f"{constants.SHM_MOUNT_PATH}/pool"
    return section


def render_sidecar_config(
    policy: CachePolicySpec,
    profile: CompressionProfileSpec | None = None,
    pool: MemoryPoolSpec | None = None,
) -> dict[str, Any]:
    """Return the sidecar config document for ``policy``; sizes in bytes, durations in seconds."""
    config: dict[str, Any] = {"cache": _cache_section(policy)}
    if profile is not None:
        config.update(_compression_sections(profile, policy.l2_mount_path))
    if pool is not None:
        config["memoryPool"] = _pool_section(pool)
    if policy.prefetch.enabled:
        config["prefetch"] = {"modelPath": model_path(policy)}
    config["server"] = {
        "resp": {"host": "127.0.0.1", "port": constants.RESP_PORT},
        "http": {"host": "127.0.0.1", "port": constants.HTTP_PORT},
        "ops": {"host": "0.0.0.0", "port": constants.OPS_PORT},
    }
    return config


def model_path(policy: CachePolicySpec) -> str:
    """Where the sidecar finds the prefetch model: the mounted ConfigMap key or the given volume path."""
    if policy.prefetch.model_config_map is not None:
        return f"{constants.MODEL_MOUNT_PATH}/{policy.prefetch.model_config_map.key}"
    return policy.prefetch.model_volume_path or f"{constants.MODEL_MOUNT_PATH}/model.onnx"


def config_document(config: dict[str, Any]) -> str:
    """The YAML text stored in the ConfigMap (stable key order, so unchanged configs never churn)."""
    return yaml.safe_dump(config, sort_keys=True)


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable digest of a rendered config, stamped on pods to spot stale sidecars."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]
