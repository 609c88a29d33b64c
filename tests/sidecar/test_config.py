"""Parsing the sidecar config: defaults, every field, errors that name the field, the JSON Schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.errors import ConfigError
from memories.sidecar.config import SCHEMA_FILE, load_config, parse_config, read_auth_token

FULL_EXAMPLE = """
cache:
  l1Size: 64MB
  l2Size: 1GB
  l2Path: /var/cache/memories
  l2Shared: true
  l3:
    url: "redis://cache:6379/0"
    mode: sentinel
    masterName: mymaster
    keyPrefix: "memories:shop/web:"
    coherence: tracking
    maxStaleness: 500ms
    timeout: 2s
    size: 10GB
    tls: {serverName: cache, caFile: /etc/ca.crt, ca: "-----BEGIN CERTIFICATE-----"}
    auth: {username: agent, password: secret}
  evictionPolicy: s3fifo
  defaultTtl: 1h
  maxValueSize: 16MB
compression:
  algorithm: zstd
  level: 3
  chunkSize: 4MB
  lossy: {quality: 40, targetSize: 1MB}
dedup: {enabled: true, blockSize: 8KB, chunking: cdc, storePath: /data/dedup}
memoryPool: {blockSizes: [4KB, 1MB], totalSize: 256MB, path: /shm/arena}
prefetch: {modelPath: /models/lstm.onnx, model: lstm, features: [time, type]}
server:
  resp: {host: 127.0.0.1, port: 6380, unixSocket: /run/memories/resp.sock}
  http: {host: 127.0.0.1, port: 8750}
  ops: {host: 0.0.0.0, port: 9750}
  authTokenFile: /var/run/secrets/memories/token
  limits:
    {maxValueSize: 32MB, maxRequestSize: 64MB, maxKeyLength: 1024, maxConnections: 100, maxOutputBuffer: 16MB, readTimeout: 10s,
     maxHttpConnections: 200, httpBodyTimeout: 15s}
shutdown: {gracePeriod: 20s}
"""


def key_paths(document: Any, prefix: str = "") -> set[str]:
    if not isinstance(document, dict):
        return set()
    paths = set()
    for key, value in document.items():
        path = f"{prefix}.{key}" if prefix else key
        paths |= {path} | key_paths(value, path)
    return paths


def schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, child in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        paths |= {path} | schema_paths(child, path)
    return paths


def test_no_file_gives_documented_defaults() -> None:
    config = load_config(None)
    assert (config.server.resp.host, config.server.resp.port) == ("127.0.0.1", 6380)
    assert (config.server.http.host, config.server.http.port) == ("127.0.0.1", 8750)
    assert (config.server.ops.host, config.server.ops.port) == ("0.0.0.0", 9750)
    assert config.cache.l1_size == 256 * 1024**2
    assert config.cache.l2_size is None and config.cache.l3 is None
    assert config.memory_pool is None and config.prefetch.model_path is None
    assert (config.server.limits.max_http_connections, config.server.limits.http_body_timeout) == (1024, 30)


def test_full_example_parses_every_field() -> None:
    config = parse_config(yaml.safe_load(FULL_EXAMPLE))
    assert config.cache.l1_size == 64 * 1024**2
    assert config.cache.l3 is not None and config.cache.l3.size == 10 * 1024**3
    assert config.cache.l3.max_staleness == 0.5 and config.cache.l3.mode == "sentinel"
    assert config.cache.l3.auth is not None and config.cache.l3.auth.password == "secret"
    assert config.cache.default_ttl == 3600
    assert config.compression.lossy is not None and config.compression.lossy.quality == 40
    assert config.dedup.chunking == "cdc"
    assert config.memory_pool is not None and config.memory_pool.block_sizes == (4096, 1024**2)
    assert config.memory_pool.path == "/shm/arena"
    assert config.server.resp.unix_socket == "/run/memories/resp.sock"
    assert config.server.limits.read_timeout == 10
    assert config.server.limits.max_output_buffer == 16 * 1024**2
    assert (config.server.limits.max_http_connections, config.server.limits.http_body_timeout) == (200, 15)
    assert config.shutdown.grace_period == 20


#: The fields the full example cannot hold together with the ones it has.
ALTERNATIVES = {"memoryPool": {"blockSizes": ["4KB"], "totalSize": "1MB", "shmName": "memories"}}


def test_json_schema_documents_exactly_the_parsed_fields() -> None:
    schema = json.loads(resources.files("memories.sidecar.config").joinpath(SCHEMA_FILE).read_text())
    assert parse_config(ALTERNATIVES).memory_pool is not None
    assert schema_paths(schema) == key_paths(yaml.safe_load(FULL_EXAMPLE)) | key_paths(ALTERNATIVES)


def test_json_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"cache": {"l1Size": "8MB"}}))
    assert load_config(path).cache.l1_size == 8 * 1024**2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cache": {"l1Size": "64XB"}}, "cache.l1Size: cannot parse size '64XB'"),
        ({"cache": {"evictionPolicy": "random"}}, "cache.evictionPolicy: expected one of lru, lfu, s3fifo"),
        ({"cache": {"l1size": "1MB"}}, "cache.l1size: unknown field"),
        ({"caches": {}}, "caches: unknown field"),
        ({"cache": {"l3": {"url": 5}}}, "cache.l3.url: expected a non-empty string"),
        ({"server": {"resp": {"port": 70000}}}, "server.resp.port: port must be between 0 and 65535"),
        ({"server": {"http": {"unixSocket": "/x"}}}, "server.http.unixSocket: unknown field"),
        ({"server": {"limits": {"readTimeout": "soon"}}}, "server.limits.readTimeout: cannot parse duration"),
        ({"server": {"limits": {"maxConnections": 0}}}, "server.limits.maxConnections: must be >= 1"),
        ({"server": {"limits": {"maxValueSize": "2MB", "maxRequestSize": "1MB"}}}, "server.limits.maxRequestSize"),
        ({"server": {"resp": {"port": None}}}, "server.resp: set port or unixSocket"),
        ({"memoryPool": {"totalSize": "1MB"}}, "memoryPool.blockSizes: required"),
        ({"memoryPool": {"blockSizes": ["4KB", "x"], "totalSize": "1MB"}}, "memoryPool.blockSizes[1]: cannot parse"),
        ({"dedup": {"enabled": "yes"}}, "dedup.enabled: expected true or false"),
        ({"shutdown": {"gracePeriod": -1}}, "shutdown.gracePeriod: duration must be >= 0"),
        ([1, 2], "<root>: expected a mapping"),
    ],
)
def test_errors_name_the_bad_field(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert str(raised.value).startswith(message)


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cache: [unclosed\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid YAML"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")


def test_auth_token_is_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  abc \n")
    assert read_auth_token(parse_config({"server": {"authTokenFile": str(tmp_path / "token")}})) == "abc"


def test_empty_auth_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(ConfigError, match="server.authTokenFile: .* is empty"):
        read_auth_token(parse_config({"server": {"authTokenFile": str(tmp_path / "token")}}))


def test_l3_url_falls_back_to_the_environment_where_the_file_is_loaded() -> None:
    document = {"cache": {"l3": {"size": "1Gi"}}}
    config = parse_config(document, environ={"MEMORIES_L3_URL": "redis://l3:6379/0"})
    assert config.cache.l3 is not None and config.cache.l3.url == "redis://l3:6379/0"
    given = parse_config({"cache": {"l3": {"url": "redis://file:6379/0"}}}, environ={"MEMORIES_L3_URL": "redis://x"})
    assert given.cache.l3 is not None and given.cache.l3.url == "redis://file:6379/0"
    assert parse_config({"cache": {}}, environ={"MEMORIES_L3_URL": "redis://x"}).cache.l3 is None


def test_a_zero_l2_size_is_no_disk_tier_as_in_the_crd() -> None:
    assert parse_config({"cache": {"l2Size": 0}}).cache.l2_size is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"compression": {"lossy": {"quality": 101}}}, "compression.lossy.quality: must be between 0 and 100"),
        ({"compression": {"lossy": {}}}, "compression.lossy: lossy needs quality (0-100) or targetSize"),
        ({"memoryPool": {"blockSizes": ["64KB", "4KB"], "totalSize": "1MB"}}, "memoryPool.blockSizes: blockSizes must"),
        ({"memoryPool": {"blockSizes": ["4KB"], "totalSize": "1KB"}}, "memoryPool.totalSize: totalSize must be at"),
        ({"cache": {"l2Size": "1GB", "l2Shared": True}}, "cache.l2Shared: l2Shared requires l2Path"),
        (
            {"memoryPool": {"blockSizes": ["4KB"], "totalSize": "1MB", "shmName": "a", "path": "/b"}},
            "memoryPool: set shmName or path, not both",
        ),
    ],
)
def test_rules_shared_with_the_crds_apply_to_the_file(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert str(raised.value).startswith(message)


def test_the_examples_of_the_docs_parse_and_show_every_field() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "sidecar-config.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in page.split("```yaml\n")[1:]]
    shown: set[str] = set()
    for block in blocks:
        document = yaml.safe_load(block)
        parse_config(document, environ={})
        shown |= key_paths(document)
    schema = json.loads(resources.files("memories.sidecar.config").joinpath(SCHEMA_FILE).read_text())
    assert shown == schema_paths(schema)
