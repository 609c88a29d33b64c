"""Typed views of the three custom resources' ``spec``, parsed once at the edge.

The API server already validates the CRD schemas; parsing here still names the bad field,
because the operator must never act on half-understood input (e.g. a CRD from an older chart).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from memories.errors import ConfigError
from memories.units import parse_duration, parse_size

EVICTION_POLICIES = ("lru", "lfu", "s3fifo")
ALGORITHMS = ("lz4", "zstd", "jpeg2000")
CHUNKING_MODES = ("fixed", "cdc")
ROLLOUT_MODES = ("Automatic", "Manual")
L2_DEFAULT_MOUNT_PATH = "/var/cache/memories"


@dataclass(frozen=True)
class SecretKeyRef:
    """A key inside a Secret of the policy's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class ConfigMapKeyRef:
    """A key inside a ConfigMap of the policy's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class PrefetchSpec:
    """Predictive prefetch: on when a model is given through a ConfigMap key or a volume path."""

    enabled: bool = False
    model_config_map: ConfigMapKeyRef | None = None
    model_volume_path: str | None = None


@dataclass(frozen=True)
class CachePolicySpec:
    """``CachePolicy.spec``: which pods, which tiers, which profile and pool. Sizes in bytes."""

    selector: Mapping[str, Any]
    l1_size_bytes: int
    l2_size_bytes: int = 0
    #: Where the disk tier's volume is mounted in the sidecar (the CRD's tiers.l2Path).
    l2_mount_path: str = L2_DEFAULT_MOUNT_PATH
    l3_secret: SecretKeyRef | None = None
    l3_size_bytes: int = 0
    eviction_policy: str = "lru"
    default_ttl_seconds: float | None = None
    prefetch: PrefetchSpec = field(default_factory=PrefetchSpec)
    compression_profile: str | None = None
    memory_pool: str | None = None
    rollout: str = "Manual"
    image: str | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryPoolSpec:
    """``MemoryPool.spec``: block sizes in bytes, arena size in bytes, shared with the workload or not."""

    block_sizes: tuple[int, ...]
    total_size_bytes: int
    shared: bool = True


@dataclass(frozen=True)
class CompressionProfileSpec:
    """``CompressionProfile.spec``: codec settings plus optional lossy and dedup settings."""

    algorithm: str = "lz4"
    level: int | None = None
    chunk_size_bytes: int = 4 * 1024 * 1024
    lossy_quality: int | None = None
    lossy_target_size_bytes: int | None = None
    dedup_enabled: bool = False
    dedup_block_size_bytes: int = 4096
    dedup_chunking: str = "fixed"


def _section(spec: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
    value = spec.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}.{name}: expected an object, got {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        raise ConfigError(f"{path}: must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _name_ref(spec: Mapping[str, Any], name: str, path: str) -> str | None:
    reference = _section(spec, name, path)
    if not reference:
        return None
    if not isinstance(reference.get("name"), str) or not reference["name"]:
        raise ConfigError(f"{path}.{name}.name: a name is required")
    return str(reference["name"])


def _key_ref(reference: Mapping[str, Any], path: str) -> tuple[str, str]:
    name, key = reference.get("name"), reference.get("key")
    if not isinstance(name, str) or not name or not isinstance(key, str) or not key:
        raise ConfigError(f"{path}: both name and key are required")
    return name, key


def _absolute_path(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{path}: must be an absolute path, got {value!r}")
    return value.rstrip("/") or "/"


def parse_cache_policy(spec: Mapping[str, Any]) -> CachePolicySpec:
    """Parse a CachePolicy spec; raises ConfigError naming the field (e.g. ``spec.tiers.l1Size``)."""
    tiers = _section(spec, "tiers", "spec")
    l3 = _section(tiers, "l3", "spec.tiers")
    l3_secret = None
    if l3:
        l3_secret = SecretKeyRef(*_key_ref(_section(l3, "secretRef", "spec.tiers.l3"), "spec.tiers.l3.secretRef"))
    prefetch = _section(spec, "prefetch", "spec")
    model = _section(prefetch, "model", "spec.prefetch")
    config_map = _section(model, "configMap", "spec.prefetch.model")
    sidecar = _section(spec, "sidecar", "spec")
    ttl = spec.get("defaultTtl")
    return CachePolicySpec(
        selector=_section(spec, "selector", "spec"),
        l1_size_bytes=parse_size(tiers.get("l1Size", "256Mi"), field="spec.tiers.l1Size", allow_zero=False),
        l2_size_bytes=parse_size(tiers.get("l2Size", 0), field="spec.tiers.l2Size"),
        l2_mount_path=_absolute_path(tiers.get("l2Path", L2_DEFAULT_MOUNT_PATH), "spec.tiers.l2Path"),
        l3_secret=l3_secret,
        l3_size_bytes=parse_size(l3.get("size", 0), field="spec.tiers.l3.size"),
        eviction_policy=_choice(spec.get("evictionPolicy", "lru"), EVICTION_POLICIES, "spec.evictionPolicy"),
        default_ttl_seconds=None if ttl is None else parse_duration(ttl, field="spec.defaultTtl"),
        prefetch=PrefetchSpec(
            enabled=bool(prefetch.get("enabled", bool(model))),
            model_config_map=ConfigMapKeyRef(*_key_ref(config_map, "spec.prefetch.model.configMap"))
            if config_map
            else None,
            model_volume_path=model.get("volumePath"),
        ),
        compression_profile=_name_ref(spec, "compressionProfileRef", "spec"),
        memory_pool=_name_ref(spec, "memoryPoolRef", "spec"),
        rollout=_choice(spec.get("rollout", "Manual"), ROLLOUT_MODES, "spec.rollout"),
        image=sidecar.get("image"),
        resources=_section(sidecar, "resources", "spec.sidecar"),
    )


def parse_memory_pool(spec: Mapping[str, Any]) -> MemoryPoolSpec:
    """Parse a MemoryPool spec; block sizes must be positive and strictly increasing."""
    raw_sizes = spec.get("blockSizes") or []
    if not isinstance(raw_sizes, list) or not raw_sizes:
        raise ConfigError("spec.blockSizes: at least one block size is required")
    sizes = tuple(
        parse_size(size, field=f"spec.blockSizes[{index}]", allow_zero=False) for index, size in enumerate(raw_sizes)
    )
    if any(later <= earlier for earlier, later in itertools.pairwise(sizes)):
        raise ConfigError(f"spec.blockSizes: sizes must be strictly increasing, got {list(raw_sizes)}")
    total = parse_size(spec.get("totalSize", 0), field="spec.totalSize", allow_zero=False)
    if total < sizes[-1]:
        raise ConfigError(f"spec.totalSize: {total} bytes cannot hold one block of the largest size {sizes[-1]}")
    return MemoryPoolSpec(block_sizes=sizes, total_size_bytes=total, shared=bool(spec.get("shared", True)))


def parse_compression_profile(spec: Mapping[str, Any]) -> CompressionProfileSpec:
    """Parse a CompressionProfile spec; lossy settings need ``algorithm: jpeg2000``."""
    algorithm = _choice(spec.get("algorithm", "lz4"), ALGORITHMS, "spec.algorithm")
    lossy = _section(spec, "lossy", "spec")
    if lossy and algorithm != "jpeg2000":
        raise ConfigError("spec.lossy: lossy settings require algorithm jpeg2000")
    dedup = _section(spec, "dedup", "spec")
    target = lossy.get("targetSize")
    level = spec.get("level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        raise ConfigError(f"spec.level: expected an integer, got {level!r}")
    return CompressionProfileSpec(
        algorithm=algorithm,
        level=level,
        chunk_size_bytes=parse_size(spec.get("chunkSize", "4Mi"), field="spec.chunkSize", allow_zero=False),
        lossy_quality=lossy.get("quality"),
        lossy_target_size_bytes=None if target is None else parse_size(target, field="spec.lossy.targetSize"),
        dedup_enabled=bool(dedup.get("enabled", False)),
        dedup_block_size_bytes=parse_size(
            dedup.get("blockSize", "4Ki"), field="spec.dedup.blockSize", allow_zero=False
        ),
        dedup_chunking=_choice(dedup.get("chunking", "fixed"), CHUNKING_MODES, "spec.dedup.chunking"),
    )
