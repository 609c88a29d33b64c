"""The ``server`` section: listeners, auth and the limits every connection is held to."""

from __future__ import annotations

from memories.settings import Rule, section, setting
from memories.settings.kinds import Duration, Integer, Size, Text


@section
class ListenConfig:
    """One TCP listener."""

    host: str = setting(Text(min_length=1), doc="Address to bind.")
    port: int | None = setting(
        Integer(minimum=0, maximum=65535, noun="port"), doc="TCP port; null disables TCP.", nullable=True
    )


@section
class RespListenConfig(ListenConfig):
    """The Redis-protocol listener, which may also listen on a unix socket."""

    unix_socket: str | None = setting(
        Text(min_length=1), doc="Path of a unix socket to listen on as well.", default=None
    )


@section(
    rules=(
        Rule(
            lambda limits: (
                f"must be >= maxValueSize ({limits.max_value_size} bytes), got {limits.max_request_size} bytes"
            ),
            check=lambda limits: limits.max_request_size >= limits.max_value_size,
            field=".maxRequestSize",
        ),
    )
)
class LimitsConfig:
    """Abuse limits."""

    max_value_size: int = setting(Size(positive=True), doc="Largest RESP argument or HTTP PUT body.", default="64Mi")
    max_request_size: int = setting(
        Size(positive=True), doc="Largest RESP command or dedup blob; at least maxValueSize.", default="128Mi"
    )
    max_key_length: int = setting(Size(positive=True), doc="Longest key, in bytes.", default=4096)
    max_connections: int = setting(Integer(minimum=1), doc="Open RESP connections at most.", default=1024)
    max_output_buffer: int = setting(
        Size(positive=True),
        doc=(
            "Replies one RESP connection may have waiting to be sent; past it the connection is closed "
            "(redis-server's client-output-buffer-limit hard limit). Reading pauses long before, while the "
            "client is not reading what was sent."
        ),
        default="64Mi",
    )
    read_timeout: float = setting(
        Duration(), doc="An incomplete RESP request with no progress this long is refused.", default="30s"
    )
    max_http_connections: int = setting(
        Integer(minimum=1),
        doc=(
            "Open HTTP data API connections at most; past it a new connection is answered 503 and closed at once "
            "while those already open keep being served."
        ),
        default=1024,
    )
    http_body_timeout: float = setting(
        Duration(positive=True),
        doc="An HTTP request body with no bytes arriving this long is refused (408) and its connection closed.",
        default="30s",
    )


@section(
    rules=(
        Rule(
            "set port or unixSocket (both are empty)",
            check=lambda server: server.resp.port is not None or server.resp.unix_socket is not None,
            field=".resp",
        ),
    )
)
class ServerConfig:
    """Listeners (data APIs on loopback, ops on all interfaces by default), auth and limits."""

    resp: RespListenConfig = setting(doc="Redis-protocol listener.", default={"host": "127.0.0.1", "port": 6380})
    http: ListenConfig = setting(doc="HTTP data API listener.", default={"host": "127.0.0.1", "port": 8750})
    # The kubelet and Prometheus reach /healthz, /readyz and /metrics from outside the pod.
    ops: ListenConfig = setting(
        doc="Metrics and health listener (all interfaces, so Prometheus and the kubelet reach it).",
        default={"host": "0.0.0.0", "port": 9750},
    )
    auth_token_file: str | None = setting(
        Text(min_length=1),
        doc="File holding the bearer token (a mounted Secret), re-read on every reload; absent = no auth.",
        default=None,
    )
    limits: LimitsConfig = setting(doc="Abuse limits.", default={})
