"""The operator's API (``optimization.memories.dev/v1alpha1``): one typed model per custom resource.

Each spec and status is a :mod:`memories.settings` section; the CRDs in crds/ (:mod:`.crds`), the reference
docs and the parsers below are derived from them. Parsers take a spec as the API server stores it and raise
:class:`~memories.errors.ConfigError` naming the field.
"""

from __future__ import annotations

from memories.operator.api.cache_policy import (
    L2_DEFAULT_MOUNT_PATH,
    ROLLOUT_MODES,
    CachePolicySpec,
    CacheTiers,
    L3Tier,
    PrefetchModel,
    PrefetchSpec,
    SidecarSpec,
    parse_cache_policy,
)
from memories.operator.api.common import LabelRequirement, LabelSelector, ResourceRequirements
from memories.operator.api.compression_profile import CompressionProfileSpec, parse_compression_profile
from memories.operator.api.memory_pool import MemoryPoolSpec, parse_memory_pool

__all__ = [
    "L2_DEFAULT_MOUNT_PATH",
    "ROLLOUT_MODES",
    "CachePolicySpec",
    "CacheTiers",
    "CompressionProfileSpec",
    "L3Tier",
    "LabelRequirement",
    "LabelSelector",
    "MemoryPoolSpec",
    "PrefetchModel",
    "PrefetchSpec",
    "ResourceRequirements",
    "SidecarSpec",
    "parse_cache_policy",
    "parse_compression_profile",
    "parse_memory_pool",
]
