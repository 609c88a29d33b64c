"""The sidecar's configuration file, parsed once at the edge into typed dataclasses.

The file is YAML (or JSON, which YAML also reads) whose keys are camelCase like the
Kubernetes CRD specs the operator renders it from. Every section and field is optional;
defaults are documented in ``docs/sidecar-config.md`` and the JSON Schema
``memories/sidecar/config.schema.json``. Every error is a :class:`ConfigError` whose
message starts with the path of the bad field, e.g. ``cache.l1Size: cannot parse size '64XB'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from memories.errors import ConfigError
from memories.sidecar.config_model import (
    CacheConfig,
    CompressionConfig,
    DedupConfig,
    L3Config,
    LimitsConfig,
    ListenConfig,
    LossyConfig,
    MemoryPoolConfig,
    PrefetchConfig,
    ServerConfig,
    ShutdownConfig,
    SidecarConfig,
)
from memories.units import parse_duration, parse_size

__all__ = [
    "CacheConfig",
    "CompressionConfig",
    "DedupConfig",
    "L3Config",
    "LimitsConfig",
    "ListenConfig",
    "LossyConfig",
    "MemoryPoolConfig",
    "PrefetchConfig",
    "ServerConfig",
    "ShutdownConfig",
    "SidecarConfig",
    "load_config",
    "parse_config",
    "parse_config_text",
    "read_auth_token",
]

EVICTION_POLICIES = ("lru", "lfu", "s3fifo", "wtinylfu")
COMPRESSION_ALGORITHMS = ("lz4", "zstd", "jpeg2000")
CHUNKING_METHODS = ("fixed", "cdc")

_T = TypeVar("_T")


class _Section:
    """A mapping read at ``path``: typed accessors that name the field in every error."""

    def __init__(self, value: object, path: str, allowed: tuple[str, ...]) -> None:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(value).__name__}")
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise ConfigError(f"{where}: unknown field; expected one of {', '.join(allowed)}")
        self._values = value
        self._path = path

    def path(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def get(self, key: str, default: _T, convert: Callable[[object, str], _T]) -> _T:
        value = self._values.get(key)
        return default if value is None else convert(value, self.path(key))

    def has(self, key: str) -> bool:
        """True when ``key`` is present with a non-null value."""
        return self._values.get(key) is not None

    def contains(self, key: str) -> bool:
        """True when ``key`` is present, even as an explicit null."""
        return key in self._values

    def raw(self, key: str) -> object:
        return self._values.get(key)


def _size(value: object, path: str) -> int:
    return parse_size(value, field=path)  # type: ignore[arg-type]  # parse_size reports wrong types itself


def _positive_size(value: object, path: str) -> int:
    return parse_size(value, field=path, allow_zero=False)  # type: ignore[arg-type]


def _duration(value: object, path: str) -> float:
    return parse_duration(value, field=path)  # type: ignore[arg-type]


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: expected a non-empty string, got {value!r}")
    return value


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    return value


def _integer(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    return value


def _port(value: object, path: str) -> int:
    port = _integer(value, path)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{path}: port must be between 0 and 65535, got {port}")
    return port


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def convert(value: object, path: str) -> str:
        if value not in options:
            raise ConfigError(f"{path}: expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    return convert


def _list_of(convert: Callable[[object, str], _T]) -> Callable[[object, str], tuple[_T, ...]]:
    def convert_list(value: object, path: str) -> tuple[_T, ...]:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{path}: expected a non-empty list, got {value!r}")
        return tuple(convert(item, f"{path}[{index}]") for index, item in enumerate(value))

    return convert_list


def _parse_cache(value: object) -> CacheConfig:
    section = _Section(
        value,
        "cache",
        ("l1Size", "l2Size", "l2Path", "l3", "evictionPolicy", "defaultTtl", "maxValueSize"),
    )
    l3: L3Config | None = None
    if section.has("l3"):
        l3_section = _Section(section.raw("l3"), "cache.l3", ("url", "size"))
        l3 = L3Config(url=l3_section.get("url", None, _text), size=l3_section.get("size", None, _positive_size))
    return CacheConfig(
        l1_size=section.get("l1Size", CacheConfig.l1_size, _positive_size),
        l2_size=section.get("l2Size", None, _positive_size),
        l2_path=section.get("l2Path", None, _text),
        l3=l3,
        eviction_policy=section.get("evictionPolicy", "lru", _choice(EVICTION_POLICIES)),
        default_ttl=section.get("defaultTtl", None, _duration),
        max_value_size=section.get("maxValueSize", None, _positive_size),
    )


def _parse_compression(value: object) -> CompressionConfig:
    section = _Section(value, "compression", ("algorithm", "level", "chunkSize", "lossy"))
    lossy: LossyConfig | None = None
    if section.has("lossy"):
        lossy_section = _Section(section.raw("lossy"), "compression.lossy", ("quality", "targetSize"))
        lossy = LossyConfig(
            quality=lossy_section.get("quality", None, _integer),
            target_size=lossy_section.get("targetSize", None, _positive_size),
        )
    return CompressionConfig(
        algorithm=section.get("algorithm", "lz4", _choice(COMPRESSION_ALGORITHMS)),
        level=section.get("level", None, _integer),
        chunk_size=section.get("chunkSize", CompressionConfig.chunk_size, _positive_size),
        lossy=lossy,
    )


def _parse_dedup(value: object) -> DedupConfig:
    section = _Section(value, "dedup", ("enabled", "blockSize", "chunking", "storePath"))
    return DedupConfig(
        enabled=section.get("enabled", False, _boolean),
        block_size=section.get("blockSize", DedupConfig.block_size, _positive_size),
        chunking=section.get("chunking", "fixed", _choice(CHUNKING_METHODS)),
        store_path=section.get("storePath", None, _text),
    )


def _parse_memory_pool(value: object) -> MemoryPoolConfig | None:
    if value is None:
        return None
    section = _Section(value, "memoryPool", ("blockSizes", "totalSize", "shmName", "path"))
    for required in ("blockSizes", "totalSize"):
        if not section.has(required):
            raise ConfigError(f"{section.path(required)}: required when memoryPool is set")
    return MemoryPoolConfig(
        block_sizes=section.get("blockSizes", (), _list_of(_positive_size)),
        total_size=section.get("totalSize", 0, _positive_size),
        shm_name=section.get("shmName", None, _text),
        path=section.get("path", None, _text),
    )


def _parse_prefetch(value: object) -> PrefetchConfig:
    section = _Section(value, "prefetch", ("modelPath", "model", "features"))
    return PrefetchConfig(
        model_path=section.get("modelPath", None, _text),
        model=section.get("model", "lstm", _text),
        features=section.get("features", PrefetchConfig.features, _list_of(_text)),
    )


def _parse_listener(value: object, path: str, default: ListenConfig, allow_unix: bool) -> ListenConfig:
    allowed = ("host", "port", "unixSocket") if allow_unix else ("host", "port")
    section = _Section(value, path, allowed)
    port = section.get("port", None, _port) if section.contains("port") else default.port
    return ListenConfig(
        host=section.get("host", default.host, _text),
        port=port,
        unix_socket=section.get("unixSocket", None, _text),
    )


def _parse_limits(value: object) -> LimitsConfig:
    section = _Section(
        value,
        "server.limits",
        ("maxValueSize", "maxRequestSize", "maxKeyLength", "maxConnections", "readTimeout"),
    )
    defaults = LimitsConfig()
    limits = LimitsConfig(
        max_value_size=section.get("maxValueSize", defaults.max_value_size, _positive_size),
        max_request_size=section.get("maxRequestSize", defaults.max_request_size, _positive_size),
        max_key_length=section.get("maxKeyLength", defaults.max_key_length, _positive_size),
        max_connections=section.get("maxConnections", defaults.max_connections, _integer),
        read_timeout=section.get("readTimeout", defaults.read_timeout, _duration),
    )
    if limits.max_connections < 1:
        raise ConfigError(f"server.limits.maxConnections: must be >= 1, got {limits.max_connections}")
    if limits.max_request_size < limits.max_value_size:
        raise ConfigError(
            f"server.limits.maxRequestSize: must be >= maxValueSize ({limits.max_value_size} bytes), "
            f"got {limits.max_request_size} bytes"
        )
    return limits


def _parse_server(value: object) -> ServerConfig:
    section = _Section(value, "server", ("resp", "http", "ops", "authTokenFile", "limits"))
    defaults = ServerConfig()
    server = ServerConfig(
        resp=_parse_listener(section.raw("resp"), "server.resp", defaults.resp, allow_unix=True),
        http=_parse_listener(section.raw("http"), "server.http", defaults.http, allow_unix=False),
        ops=_parse_listener(section.raw("ops"), "server.ops", defaults.ops, allow_unix=False),
        auth_token_file=section.get("authTokenFile", None, _text),
        limits=_parse_limits(section.raw("limits")),
    )
    if server.resp.port is None and server.resp.unix_socket is None:
        raise ConfigError("server.resp: set port or unixSocket (both are empty)")
    return server


def parse_config(document: object) -> SidecarConfig:
    """Return the typed config of a parsed YAML/JSON document (None = all defaults).

    Raises ConfigError naming the first bad field.
    """
    root = _Section(
        document,
        "",
        ("cache", "compression", "dedup", "memoryPool", "prefetch", "server", "shutdown"),
    )
    shutdown = _Section(root.raw("shutdown"), "shutdown", ("gracePeriod",))
    return SidecarConfig(
        cache=_parse_cache(root.raw("cache")),
        compression=_parse_compression(root.raw("compression")),
        dedup=_parse_dedup(root.raw("dedup")),
        memory_pool=_parse_memory_pool(root.raw("memoryPool")),
        prefetch=_parse_prefetch(root.raw("prefetch")),
        server=_parse_server(root.raw("server")),
        shutdown=ShutdownConfig(grace_period=shutdown.get("gracePeriod", 25.0, _duration)),
    )


def parse_config_text(text: str, *, source: str = "<config>") -> SidecarConfig:
    """Parse YAML or JSON text; raises ConfigError for syntax errors (naming ``source``) or bad fields."""
    try:
        document: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML/JSON: {error}") from error
    return parse_config(document)


def load_config(path: str | Path | None) -> SidecarConfig:
    """Read and parse the config file at ``path``; None returns the documented defaults.

    Raises ConfigError when the file cannot be read or is invalid.
    """
    if path is None:
        return SidecarConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror or error}") from error
    if str(path).endswith(".json"):
        try:
            return parse_config(json.loads(text))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON: {error}") from error
    return parse_config_text(text, source=str(path))


def read_auth_token(config: SidecarConfig) -> str | None:
    """Return the bearer token from ``server.authTokenFile`` (whitespace stripped), or None when unset.

    Raises ConfigError when the file is set but unreadable or empty.
    """
    token_file = config.server.auth_token_file
    if token_file is None:
        return None
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"server.authTokenFile: cannot read {token_file}: {error.strerror or error}") from error
    if not token:
        raise ConfigError(f"server.authTokenFile: {token_file} is empty")
    return token
