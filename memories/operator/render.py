"""Render the sidecar's config file from a CachePolicy and the profile and pool it references.

The output is the document that ``memories sidecar --config`` reads (see docs/sidecar-config.md); the operator
stores it in a ConfigMap owned by the policy. It is built as the agent's typed config: every setting the CRDs
share with the agent's model is carried over by :func:`~memories.settings.write.project`, so a new shared
setting needs nothing here; this module only decides what is particular to a pod (paths, listeners). Secrets
never enter it: a value from a Secret (the L3 URL) reaches the agent as an environment variable the webhook
fills from a secretKeyRef (see ``injection.EnvFromKey``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import yaml

from memories.operator import constants
from memories.operator.api.cache_policy import CachePolicySpec, L3Tier
from memories.operator.api.compression_profile import CompressionProfileSpec
from memories.operator.api.memory_pool import MemoryPoolSpec
from memories.settings.write import project, write_section
from memories.sidecar.config import (
    CacheConfig,
    CompressionConfig,
    DedupConfig,
    L3Auth,
    L3Config,
    L3Tls,
    ListenConfig,
    MemoryPoolConfig,
    PrefetchConfig,
    RespListenConfig,
    ServerConfig,
    SidecarConfig,
)

#: Annotation on the rendered ConfigMap: the digest of the config it holds.
CONFIG_HASH_ANNOTATION = "memories.dev/config-hash"
#: Parts of the rendered config a running agent applies on reload (``apply_config`` in memories/sidecar/agent.py).
#: A change anywhere else takes effect only when the agent restarts, so it makes the injected pods outdated.
RELOADABLE_SECTIONS = (("server", "limits"),)

#: In a pod the data APIs listen on loopback (only the pod's containers reach them), ops on every interface.
POD_SERVER = ServerConfig(
    resp=RespListenConfig(host="127.0.0.1", port=constants.RESP_PORT),
    http=ListenConfig(host="127.0.0.1", port=constants.HTTP_PORT),
    ops=ListenConfig(host="0.0.0.0", port=constants.OPS_PORT),
)


def sidecar_config(
    policy: CachePolicySpec,
    profile: CompressionProfileSpec | None = None,
    pool: MemoryPoolSpec | None = None,
    *,
    owner: str = "",
) -> SidecarConfig:
    """The agent's config for the pods of ``policy`` (typed; :func:`render_sidecar_config` writes it out).

    ``owner`` (``<namespace>/<name>`` of the policy) names the policy's directory on a shared L2 volume;
    raises ValueError when the policy has an ``l2Volume`` and no owner is given.
    """
    mount = policy.tiers.l2_mount_path
    server = (
        POD_SERVER if policy.sidecar.limits is None else dataclasses.replace(POD_SERVER, limits=policy.sidecar.limits)
    )
    sections: dict[str, Any] = {"cache": _cache(policy, owner), "server": server}
    if profile is not None:
        sections["compression"] = project(CompressionConfig, profile)
        if profile.dedup.enabled:
            sections["dedup"] = project(DedupConfig, profile.dedup, store_path=f"{mount}/dedup")
    if pool is not None:
        shared_path = f"{constants.SHM_MOUNT_PATH}/pool" if pool.shared else None
        sections["memory_pool"] = project(MemoryPoolConfig, pool, path=shared_path)
    if policy.prefetch.enabled:
        sections["prefetch"] = PrefetchConfig(model_path=model_path(policy))
    return SidecarConfig(**sections)


def _cache(policy: CachePolicySpec, owner: str) -> CacheConfig:
    tiers = policy.tiers
    l2_path = tiers.l2_directory if tiers.l2_size else None
    shared = bool(tiers.l2_size) and tiers.l2_volume is not None
    if shared:
        if not owner:
            raise ValueError("a policy with tiers.l2Volume renders for a named policy (owner=<namespace>/<name>)")
        # Policies (and namespaces) sharing a volume or a node directory keep apart; the agents of one policy
        # lease slots below it.
        l2_path = f"{tiers.l2_directory}/{owner}"
    return project(
        CacheConfig,
        tiers,
        policy,
        l2_path=l2_path,
        l2_shared=True if shared else None,
        l3=None if tiers.l3 is None else _l3(tiers.l3, owner),
    )


def _l3(l3: L3Tier, owner: str) -> L3Config:
    """The agent's L3 without the URL and credentials: the agent reads them from the variables the webhook fills
    from the Secrets. Present (if empty) tls and auth sections tell the agent to look for them."""
    return project(
        L3Config,
        l3,
        key_prefix=l3.key_prefix or default_key_prefix(owner),
        tls=None if l3.tls is None else project(L3Tls, l3.tls),
        auth=None if l3.auth is None else L3Auth(),
    )


def default_key_prefix(owner: str) -> str:
    """The Redis key prefix of a policy that does not set one: ``memories:<namespace>/<name>:`` (every policy
    apart; ``owner`` is ``<namespace>/<name>``)."""
    return f"memories:{owner or 'cache'}:"


def render_sidecar_config(
    policy: CachePolicySpec,
    profile: CompressionProfileSpec | None = None,
    pool: MemoryPoolSpec | None = None,
    *,
    owner: str = "",
) -> dict[str, Any]:
    """The sidecar config document for ``policy`` (see :func:`sidecar_config`): sizes in bytes, durations in
    seconds."""
    return write_section(sidecar_config(policy, profile, pool, owner=owner))


def model_path(policy: CachePolicySpec) -> str:
    """Where the sidecar finds the prefetch model: the mounted ConfigMap key or the given volume path."""
    model = policy.prefetch.model
    if model is not None and model.config_map is not None:
        return f"{constants.MODEL_MOUNT_PATH}/{model.config_map.key}"
    return (model.volume_path if model is not None else None) or f"{constants.MODEL_MOUNT_PATH}/model.onnx"


def config_document(config: dict[str, Any]) -> str:
    """The YAML text stored in the ConfigMap (stable key order, so unchanged configs never churn)."""
    return yaml.safe_dump(config, sort_keys=True)


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable digest of a rendered config, stamped on pods to spot stale sidecars."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def restart_config_hash(config: dict[str, Any]) -> str:
    """The digest of what a running agent cannot reload: the config without :data:`RELOADABLE_SECTIONS`."""
    fixed = json.loads(json.dumps(config))
    for *parents, leaf in RELOADABLE_SECTIONS:
        section = fixed
        for parent in parents:
            section = section.get(parent, {})
        section.pop(leaf, None)
    return config_hash(fixed)
