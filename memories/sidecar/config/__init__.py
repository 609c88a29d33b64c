"""The agent's config file: its typed model (one section per part), the loader and the JSON Schema.

The sections are declared with :mod:`memories.settings`, which derives from them the parser, the JSON Schema
(``schema.json`` here), the field reference in docs/sidecar-config.md, and the parts of the CRDs that carry the
same settings. Sizes are bytes and durations seconds once parsed.
"""

from __future__ import annotations

from memories.sidecar.config.cache import EVICTION_POLICIES, CacheConfig, L3Auth, L3Config, L3Settings, L3Tls
from memories.sidecar.config.compression import CompressionConfig, DedupConfig, DedupSettings, LossyConfig
from memories.sidecar.config.document import PrefetchConfig, ShutdownConfig, SidecarConfig
from memories.sidecar.config.loading import (
    SCHEMA_FILE,
    config_json_schema,
    load_config,
    parse_config,
    parse_config_text,
    read_auth_token,
)
from memories.sidecar.config.pool import MemoryPoolConfig, PoolLayout
from memories.sidecar.config.server import LimitsConfig, ListenConfig, RespListenConfig, ServerConfig

__all__ = [
    "EVICTION_POLICIES",
    "SCHEMA_FILE",
    "CacheConfig",
    "CompressionConfig",
    "DedupConfig",
    "DedupSettings",
    "L3Auth",
    "L3Config",
    "L3Settings",
    "L3Tls",
    "LimitsConfig",
    "ListenConfig",
    "LossyConfig",
    "MemoryPoolConfig",
    "PoolLayout",
    "PrefetchConfig",
    "RespListenConfig",
    "ServerConfig",
    "ShutdownConfig",
    "SidecarConfig",
    "config_json_schema",
    "load_config",
    "parse_config",
    "parse_config_text",
    "read_auth_token",
]
