"""CachePolicy specs parse into typed objects as the API server stores them; bad fields are named."""

from __future__ import annotations

from typing import Any

import pytest

from memories.errors import ConfigError
from memories.operator.api import parse_cache_policy
from memories.settings.kinds import KeyReference

SELECTOR = {"matchLabels": {"app": "web"}}


def policy(**spec: Any) -> dict[str, Any]:
    return {"selector": SELECTOR, "tiers": {}, **spec}


def test_sizes_are_bytes_and_durations_seconds() -> None:
    parsed = parse_cache_policy(policy(tiers={"l1Size": "64Mi", "l2Size": "1Gi"}, defaultTtl="1h"))
    assert (parsed.tiers.l1_size, parsed.tiers.l2_size, parsed.default_ttl) == (64 * 1024**2, 1024**3, 3600)


def test_the_api_servers_defaults_apply() -> None:
    parsed = parse_cache_policy(policy())
    assert (parsed.tiers.l1_size, parsed.eviction_policy, parsed.rollout) == (256 * 1024**2, "lru", "Manual")
    assert parsed.prefetch.enabled is False and parsed.sidecar.image is None


def test_l2_size_zero_is_no_disk_tier() -> None:
    assert parse_cache_policy(policy(tiers={"l2Size": 0})).tiers.l2_size is None


def test_secret_key_defaults_to_url_as_in_the_schema() -> None:
    parsed = parse_cache_policy(policy(tiers={"l3": {"secretRef": {"name": "redis"}}}))
    assert parsed.tiers.l3 is not None and parsed.tiers.l3.secret_ref == KeyReference("redis", "url")


def test_unknown_fields_are_ignored_as_the_api_server_prunes_them() -> None:
    assert parse_cache_policy(policy(futureField=1, tiers={"l9": "1Gi"})).tiers.l3 is None


def test_l2_path_trailing_slash_is_dropped() -> None:
    parsed = parse_cache_policy(policy(tiers={"l2Size": "1Gi", "l2Path": "/data/cache/"}))
    assert parsed.tiers.l2_mount_path == "/data/cache"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (policy(tiers={"l1Size": "64XB"}), "spec.tiers.l1Size: cannot parse size '64XB'"),
        (policy(evictionPolicy="random"), "spec.evictionPolicy: expected one of lru, lfu, s3fifo, wtinylfu"),
        (policy(tiers={"l3": {"secretRef": {"key": "url"}}}), "spec.tiers.l3.secretRef.name: required"),
        (policy(tiers={"l3": {"secretRef": {"name": "Not_A_Name"}}}), "spec.tiers.l3.secretRef.name: must be a"),
        (policy(rollout="Sometimes"), "spec.rollout: expected one of Automatic, Manual"),
        (policy(memoryPoolRef={}), "spec.memoryPoolRef.name: required"),
        (policy(tiers={"l2Path": "data"}), "spec.tiers.l2Path: must be an absolute path"),
        (policy(defaultTtl="0s"), "spec.defaultTtl: duration must be > 0"),
        ({"tiers": {}}, "spec.selector: required"),
        (policy(selector={}), "spec.selector: selector must set matchLabels or matchExpressions"),
        (policy(tiers={"l1Size": "1Gi", "l2Size": "1Mi"}), "spec.tiers.l2Size: l2Size must be at least l1Size"),
        (policy(tiers={"l2Path": "/data"}), "spec.tiers.l2Path: l2Path requires l2Size"),
        (policy(prefetch={"enabled": True}), "spec.prefetch.model: prefetch.enabled requires prefetch.model"),
        (
            policy(prefetch={"model": {"volumePath": "/m", "configMap": {"name": "m", "key": "k"}}}),
            "spec.prefetch.model: model takes exactly one of configMap or volumePath",
        ),
        (
            policy(sidecar={"resources": {"limits": {"memory": "lots"}}}),
            "spec.sidecar.resources.limits.memory: expected a Kubernetes quantity",
        ),
    ],
)
def test_errors_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_cache_policy(spec)
    assert str(raised.value).startswith(message)


def test_l2_path_with_a_zero_size_passes_as_in_cel_where_has_sees_the_zero() -> None:
    parsed = parse_cache_policy(policy(tiers={"l2Size": 0, "l2Path": "/data"}))
    assert parsed.tiers.l2_size is None and parsed.tiers.l2_path == "/data"
