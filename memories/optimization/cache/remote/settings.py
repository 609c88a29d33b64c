"""Settings of the shared Redis tier (L3): where it is, how to log in, and how coherent local copies stay.

Parsed once at the edge (the agent's config file, or :class:`CacheManager`'s arguments) into
:class:`RemoteSettings`; nothing below reads the environment or raw dicts.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from memories.errors import ConfigError

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
#: Prefix of every key a cache writes to Redis when none is configured.
DEFAULT_PREFIX = "memories:cache:"


class RedisMode(StrEnum):
    """How the Redis behind L3 is deployed."""

    STANDALONE = "standalone"
    CLUSTER = "cluster"
    SENTINEL = "sentinel"


class Coherence(StrEnum):
    """How an agent's local copies (L1, L2) of L3 keys learn about writes made elsewhere.

    ``tracking``: Redis' server-assisted client-side caching (``CLIENT TRACKING ... BCAST PREFIX``) invalidates them;
    ``none``: they are never invalidated (stale until they expire or are evicted; one agent per Redis only).
    """

    TRACKING = "tracking"
    NONE = "none"


@dataclass(frozen=True)
class NodeAddress:
    """A Redis (or Sentinel) server: host name or IP, TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TlsSettings:
    """TLS to Redis: the CAs to trust as PEM text (``ca_pem``) or a file (``ca_file``; neither = the system's),
    ``server_name`` checked in the certificate (None = the host connected to), optional client certificate and
    key files."""

    ca_pem: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    server_name: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class RemoteSettings:
    """Everything L3 needs. Durations in seconds, sizes in bytes.

    ``addresses``: the server (standalone), seed nodes (cluster) or the sentinels (sentinel, with ``master_name``).
    ``max_staleness_seconds``: the longest an agent keeps serving local copies without hearing from Redis (the
    consistency bound when the invalidation stream is silently lost). ``timeout_seconds``: a command without a
    reply for this long marks its connection dead. ``max_value_bytes``: the largest value written to Redis.
    """

    addresses: tuple[NodeAddress, ...]
    mode: RedisMode = RedisMode.STANDALONE
    master_name: str | None = None
    database: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsSettings | None = None
    prefix: str = DEFAULT_PREFIX
    coherence: Coherence = Coherence.TRACKING
    max_staleness_seconds: float = 1.0
    timeout_seconds: float = 1.0
    max_value_bytes: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ConfigError("l3: at least one Redis address is required")
        if self.mode is RedisMode.SENTINEL and not self.master_name:
            raise ConfigError("l3.masterName: required in sentinel mode (the name the sentinels monitor)")
        if self.mode is RedisMode.STANDALONE and len(self.addresses) > 1:
            raise ConfigError(
                f"l3.url: {len(self.addresses)} addresses given in standalone mode; "
                "set mode to cluster (seed nodes) or sentinel (the sentinels)"
            )
        if self.mode is RedisMode.CLUSTER and self.database != 0:
            raise ConfigError(f"l3.url: Redis Cluster has only database 0, got {self.database}")
        if not self.prefix:
            raise ConfigError("l3.prefix: must not be empty (BCAST tracking and FLUSH need a key prefix)")
        if self.max_staleness_seconds <= 0 or self.timeout_seconds <= 0:
            raise ConfigError("l3: maxStaleness and timeout must be positive")

    @classmethod
    def from_url(cls, url: str, *, field_name: str = "l3.url", **fields: Any) -> RemoteSettings:
        """Settings for ``url`` (see :func:`parse_url`; credentials in it win over none given) plus ``fields``.

        ``rediss://`` without ``tls`` in ``fields`` means TLS with the system's CA bundle. Raises ConfigError.
        """
        mode = RedisMode(fields.get("mode", RedisMode.STANDALONE))
        parsed = parse_url(
            url,
            field_name=field_name,
            default_port=DEFAULT_SENTINEL_PORT if mode is RedisMode.SENTINEL else DEFAULT_PORT,
        )
        fields.setdefault("username", parsed.username)
        fields.setdefault("password", parsed.password)
        if parsed.tls:
            fields.setdefault("tls", TlsSettings())
        if mode is not RedisMode.SENTINEL:
            fields.setdefault("database", parsed.database)
        return cls(addresses=parsed.addresses, **fields)

    @property
    def description(self) -> str:
        """Where L3 is, without credentials, for logs and metrics."""
        nodes = ",".join(str(address) for address in self.addresses)
        scheme = "rediss" if self.tls is not None else "redis"
        name = f" master {self.master_name}" if self.master_name else ""
        return f"{self.mode.value} {scheme}://{nodes}{name}"


@dataclass(frozen=True)
class ParsedUrl:
    """The parts of an L3 URL: addresses, TLS or not, credentials, database."""

    addresses: tuple[NodeAddress, ...]
    tls: bool
    username: str | None
    password: str | None
    database: int


def parse_url(url: str, *, field_name: str = "l3.url", default_port: int = DEFAULT_PORT) -> ParsedUrl:
    """Parse ``redis://[user[:password]@]host[:port][,host2[:port2]...][/db]`` (``rediss://`` for TLS).

    Several comma-separated hosts are seed nodes (cluster) or sentinels (sentinel mode). Raises ConfigError naming
    ``field_name`` (never echoing the password).
    """
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("redis", "rediss"):
        raise ConfigError(f"{field_name}: expected redis:// or rediss://, got {_redacted(url)!r}")
    credentials, at, location = rest.rpartition("@")
    hosts, _slash, path = location.partition("/")
    path = path.split("?", 1)[0]
    username = password = None
    if at:
        user_part, colon, password_part = credentials.partition(":")
        username = urllib.parse.unquote(user_part) or None
        password = urllib.parse.unquote(password_part) if colon else None
        if not colon:  # redis://password@host is the classic form of a password without a user
            username, password = None, urllib.parse.unquote(user_part) or None
    try:
        database = int(path) if path else 0
    except ValueError:
        raise ConfigError(f"{field_name}: database must be a number, got {path!r}") from None
    if database < 0:
        raise ConfigError(f"{field_name}: database must be >= 0, got {database}")
    addresses = tuple(_address(part, field_name, default_port) for part in hosts.split(","))
    return ParsedUrl(addresses, scheme == "rediss", username, password, database)


def _address(text: str, field_name: str, default_port: int) -> NodeAddress:
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        host, _bracket, port_text = text[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _colon, port_text = text.partition(":")
    if not host:
        raise ConfigError(f"{field_name}: empty host in {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(f"{field_name}: port must be a number, got {port_text!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{field_name}: port must be between 1 and 65535, got {port}")
    return NodeAddress(host, port)


def _redacted(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    _credentials, at, location = rest.rpartition("@")
    return f"{scheme}{separator}***@{location}" if at else url
