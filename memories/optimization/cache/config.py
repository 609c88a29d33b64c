"""Parsing of CacheManager's arguments into one typed settings object."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from memories.optimization.cache.policies import EvictionPolicy, policy_class
from memories.optimization.cache.remote.settings import DEFAULT_PREFIX, RemoteSettings
from memories.units import Duration, Size, parse_duration, parse_size

logger = logging.getLogger(__name__)

L3_URL_VARIABLE = "MEMORIES_L3_URL"
"""Environment variable giving the Redis URL of L3 when CacheManager gets ``l3_size`` but neither ``l3_url`` nor
``l3`` (library use, as in the seed's example; the agent always passes its settings)."""
_announced_missing_l3 = False

__all__ = ["DEFAULT_PREFIX", "L3_URL_VARIABLE", "CacheSettings", "default_l2_path", "parse_settings"]


@dataclass(frozen=True)
class CacheSettings:
    """Validated cache settings: sizes in bytes, durations in seconds; ``remote`` None means no L3."""

    l1_bytes: int
    l2_bytes: int | None
    policy_factory: Callable[[], EvictionPolicy]
    l2_path: Path | None
    remote: RemoteSettings | None
    default_ttl_seconds: float | None
    max_value_bytes: int | None


def default_l2_path() -> Path:
    """Return the per-user L2 directory: ``$XDG_CACHE_HOME/memories/cache-l2``, else ``~/.cache/memories/cache-l2``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memories" / "cache-l2"


def parse_settings(
    l1_size: Size,
    l2_size: Size | None,
    l3_size: Size | None,
    eviction_policy: str,
    l2_path: str | os.PathLike[str] | None,
    l3_url: str | None,
    default_ttl: Duration | None,
    max_value_size: Size | None,
    *,
    l3: RemoteSettings | None = None,
    l3_prefix: str = DEFAULT_PREFIX,
) -> CacheSettings:
    """Validate every argument; raises ConfigError naming the first bad one."""
    l2_bytes = None if l2_size is None else parse_size(l2_size, field="l2_size", allow_zero=False)
    return CacheSettings(
        l1_bytes=parse_size(l1_size, field="l1_size", allow_zero=False),
        l2_bytes=l2_bytes,
        policy_factory=policy_class(eviction_policy),
        l2_path=None if l2_bytes is None else Path(l2_path) if l2_path is not None else default_l2_path(),
        remote=l3 if l3 is not None else _remote_from_url(l3_size, l3_url, l3_prefix),
        default_ttl_seconds=None
        if default_ttl is None
        else parse_duration(default_ttl, field="default_ttl", allow_zero=False),
        max_value_bytes=None
        if max_value_size is None
        else parse_size(max_value_size, field="max_value_size", allow_zero=False),
    )


def _remote_from_url(l3_size: Size | None, l3_url: str | None, prefix: str) -> RemoteSettings | None:
    """L3 settings from the seed API's ``l3_size`` + ``l3_url`` (or ``$MEMORIES_L3_URL``): a standalone Redis."""
    if l3_size is None:
        return None
    limit = parse_size(l3_size, field="l3_size", allow_zero=False)
    url = l3_url if l3_url is not None else os.environ.get(L3_URL_VARIABLE) or None
    if url is None:
        _announce_missing_l3()
        return None
    return RemoteSettings.from_url(url, field_name="l3_url", prefix=prefix, max_value_bytes=limit)


def _announce_missing_l3() -> None:
    global _announced_missing_l3
    if not _announced_missing_l3:
        logger.info("l3_size is set but no l3_url or $%s: running without L3", L3_URL_VARIABLE)
        _announced_missing_l3 = True
