"""Whatever valid policy, profile and pool: the rendered config is accepted by the agent and carries every
setting the CRDs share with it, unchanged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.operator import constants
from memories.operator.api import (
    CachePolicySpec,
    CompressionProfileSpec,
    MemoryPoolSpec,
    parse_cache_policy,
    parse_compression_profile,
    parse_memory_pool,
)
from memories.operator.render import config_document, render_sidecar_config
from memories.settings import spec_of
from memories.sidecar.config import parse_config
from tests.unit.settings.strategies import documents

SELECTORS = st.fixed_dictionaries({"matchLabels": st.just({"app": "web"})})
BLOCK_SIZES = st.lists(st.integers(1, 1 << 20), min_size=1, max_size=5, unique=True).map(sorted)


def pools() -> st.SearchStrategy[dict[str, Any]]:
    return BLOCK_SIZES.flatmap(
        lambda sizes: documents(MemoryPoolSpec, blockSizes=st.just(sizes), totalSize=st.integers(max(sizes), 1 << 31))
    )


def parsed(parse: Any, document: dict[str, Any] | None) -> Any:
    if document is None:
        return None
    try:
        return parse(document)
    except ConfigError:
        assume(False)  # breaks a rule across fields: the API server would refuse it


def assert_shared_settings_equal(source: object, target: object) -> None:
    """Every field of ``target`` declared from the same setting as one of ``source`` holds the same value."""
    origins = {field.origin: field for field in spec_of(type(source)).fields}
    for field in spec_of(type(target)).fields:
        if field.origin in origins:
            assert getattr(target, field.attribute) == getattr(source, origins[field.origin].attribute), field.name


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    documents(CachePolicySpec, selector=SELECTORS),
    st.none() | documents(CompressionProfileSpec),
    st.none() | pools(),
)
def test_rendered_config_is_accepted_and_carries_every_shared_setting(
    policy_document: dict[str, Any], profile_document: dict[str, Any] | None, pool_document: dict[str, Any] | None
) -> None:
    policy: CachePolicySpec = parsed(parse_cache_policy, policy_document)
    profile: CompressionProfileSpec | None = parsed(parse_compression_profile, profile_document)
    pool: MemoryPoolSpec | None = parsed(parse_memory_pool, pool_document)
    rendered = render_sidecar_config(policy, profile, pool, owner="shop/web")
    config = parse_config(yaml.safe_load(config_document(rendered)), environ={})
    assert_shared_settings_equal(policy.tiers, config.cache)
    assert_shared_settings_equal(policy, config.cache)
    assert config.cache.l2_shared == (policy.tiers.l2_volume is not None and config.cache.l2_size is not None)
    if config.cache.l2_shared:
        assert config.cache.l2_path == f"{policy.tiers.l2_directory}/shop/web"
    assert (config.cache.l3 is None) == (policy.tiers.l3 is None)
    if policy.tiers.l3 is not None and config.cache.l3 is not None:
        assert_shared_settings_equal(policy.tiers.l3, config.cache.l3)
        assert config.cache.l3.url is None  # the URL stays in its Secret
    if profile is not None:
        assert_shared_settings_equal(profile, config.compression)
        assert config.dedup.enabled == profile.dedup.enabled
        if profile.dedup.enabled:
            assert_shared_settings_equal(profile.dedup, config.dedup)
    assert (config.memory_pool is None) == (pool is None)
    if pool is not None and config.memory_pool is not None:
        assert_shared_settings_equal(pool, config.memory_pool)
        assert (config.memory_pool.path is not None) == pool.shared
    assert config.prefetch.model_path is not None if policy.prefetch.enabled else config.prefetch.model_path is None
    assert (config.server.resp.port, config.server.http.port) == (constants.RESP_PORT, constants.HTTP_PORT)
