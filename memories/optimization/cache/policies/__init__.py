"""Eviction policies, interchangeable by name."""

from __future__ import annotations

from collections.abc import Callable

from memories.errors import ConfigError
from memories.optimization.cache.policies.base import EvictionPolicy
from memories.optimization.cache.policies.lfu import LfuPolicy
from memories.optimization.cache.policies.lru import LruPolicy
from memories.optimization.cache.policies.s3fifo import S3FifoPolicy
from memories.optimization.cache.policies.wtinylfu import WTinyLfuPolicy

POLICIES: dict[str, type[EvictionPolicy]] = {
    LruPolicy.name: LruPolicy,
    LfuPolicy.name: LfuPolicy,
    S3FifoPolicy.name: S3FifoPolicy,
    WTinyLfuPolicy.name: WTinyLfuPolicy,
}


def policy_class(name: str) -> Callable[[], EvictionPolicy]:
    """Return the factory of the policy called ``name``; raises ConfigError listing the valid names."""
    factory = POLICIES.get(name.lower().replace("-", "") if isinstance(name, str) else name)
    if factory is None:
        raise ConfigError(f"eviction_policy: unknown policy {name!r}; valid: {', '.join(sorted(POLICIES))}")
    return factory


def create_policy(name: str) -> EvictionPolicy:
    """Return a new, empty policy called ``name`` ("lru", "lfu", "s3fifo", "wtinylfu"); raises ConfigError if unknown."""
    return policy_class(name)()


__all__ = [
    "POLICIES",
    "EvictionPolicy",
    "LfuPolicy",
    "LruPolicy",
    "S3FifoPolicy",
    "WTinyLfuPolicy",
    "create_policy",
    "policy_class",
]
