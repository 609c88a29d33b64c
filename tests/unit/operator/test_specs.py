"""CRD specs parse into typed objects; bad fields are named in the error."""

from __future__ import annotations

import pytest

from memories.errors import ConfigError
from memories.operator.specs import parse_cache_policy, parse_compression_profile, parse_memory_pool


def test_cache_policy_sizes_are_bytes() -> None:
    policy = parse_cache_policy(
        {"selector": {"matchLabels": {"app": "web"}}, "tiers": {"l1Size": "64Mi", "l2Size": "1Gi"}, "defaultTtl": "1h"}
    )
    assert policy.l1_size_bytes == 64 * 1024**2
    assert policy.l2_size_bytes == 1024**3
    assert policy.default_ttl_seconds == 3600


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"tiers": {"l1Size": "64XB"}}, "spec.tiers.l1Size"),
        ({"evictionPolicy": "random"}, "spec.evictionPolicy"),
        ({"tiers": {"l3": {"secretRef": {"name": "redis"}}}}, "spec.tiers.l3.secretRef"),
        ({"rollout": "Sometimes"}, "spec.rollout"),
        ({"memoryPoolRef": {}}, None),
    ],
)
def test_cache_policy_errors_name_the_field(spec: dict[str, object], field: str | None) -> None:
    if field is None:
        assert parse_cache_policy(spec).memory_pool is None
        return
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_cache_policy(spec)


def test_memory_pool_rejects_unsorted_block_sizes() -> None:
    with pytest.raises(ConfigError, match="strictly increasing"):
        parse_memory_pool({"blockSizes": [16384, 4096], "totalSize": "1Gi"})


def test_memory_pool_rejects_total_smaller_than_a_block() -> None:
    with pytest.raises(ConfigError, match="spec.totalSize"):
        parse_memory_pool({"blockSizes": [4096, "64Ki"], "totalSize": "32Ki"})


def test_compression_profile_lossy_requires_jpeg2000() -> None:
    with pytest.raises(ConfigError, match="lossy settings require algorithm jpeg2000"):
        parse_compression_profile({"algorithm": "lz4", "lossy": {"quality": 80}})


def test_compression_profile_defaults() -> None:
    profile = parse_compression_profile({})
    assert (profile.algorithm, profile.chunk_size_bytes, profile.dedup_enabled) == ("lz4", 4 * 1024**2, False)
