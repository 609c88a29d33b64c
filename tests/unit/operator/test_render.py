"""The operator renders configs that the sidecar accepts: the two ends of one schema."""

from __future__ import annotations

import yaml

from memories.operator.api import parse_cache_policy, parse_compression_profile, parse_memory_pool
from memories.operator.render import config_document, config_hash, render_sidecar_config
from memories.sidecar.config import parse_config_text

FULL_POLICY = parse_cache_policy(
    {
        "selector": {"matchLabels": {"app": "tiles"}},
        "tiers": {
            "l1Size": "256Mi",
            "l2Size": "4Gi",
            "l3": {"secretRef": {"name": "redis", "key": "url"}, "size": "50Gi"},
        },
        "evictionPolicy": "s3fifo",
        "defaultTtl": "30m",
        "prefetch": {"enabled": True, "model": {"configMap": {"name": "model", "key": "model.onnx"}}},
    }
)
PROFILE = parse_compression_profile(
    {"algorithm": "zstd", "level": 3, "chunkSize": "8Mi", "dedup": {"enabled": True, "chunking": "cdc"}}
)
POOL = parse_memory_pool({"blockSizes": ["64Ki", "1Mi"], "totalSize": "512Mi", "shared": True})


def test_rendered_config_is_accepted_by_the_sidecar() -> None:
    rendered = render_sidecar_config(FULL_POLICY, PROFILE, POOL)
    config = parse_config_text(config_document(rendered), source="rendered")
    assert config.cache.l1_size == 256 * 1024**2
    assert config.cache.l2_size == 4 * 1024**3
    assert config.cache.eviction_policy == "s3fifo"
    assert config.cache.default_ttl == 1800
    assert config.cache.l3 is not None and config.cache.l3.url is None


def test_minimal_policy_renders_minimal_config() -> None:
    minimal = parse_cache_policy({"selector": {"matchLabels": {"app": "web"}}, "tiers": {}})
    rendered = render_sidecar_config(minimal)
    assert set(rendered) == {"cache", "server"}
    parse_config_text(config_document(rendered))


def test_config_hash_is_stable_and_content_sensitive() -> None:
    first = render_sidecar_config(FULL_POLICY, PROFILE, POOL)
    assert config_hash(first) == config_hash(yaml.safe_load(config_document(first)))
    assert config_hash(first) != config_hash(render_sidecar_config(FULL_POLICY, PROFILE, None))
