"""The sidecar's own Prometheus metrics, in a per-agent registry (tests run many agents).

Engine parts contribute their collectors; the sidecar adds HTTP request latency and its connection, body timeout
and client disconnect counts, RESP command and connection counters and RESP batch latency (read from plain
counters at scrape time, so the RESP hot path never touches a metric object) and config reload outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from memories.sidecar.resp.commands import CommandTable

LATENCY_BUCKETS_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RespCollector(Collector):
    """Counts of RESP commands, connections and protocol errors, and the batch latency histogram."""

    def __init__(self, commands: CommandTable) -> None:
        self._commands = commands

    def collect(self) -> Iterator[Metric]:
        statistics = self._commands.statistics
        calls = CounterMetricFamily(
            "memories_sidecar_resp_commands", "RESP commands executed, by command", labels=["command"]
        )
        for name, count in sorted(self._commands.call_counts().items()):
            calls.add_metric([name], count)
        yield calls
        yield GaugeMetricFamily(
            "memories_sidecar_resp_connections", "Open RESP connections", value=statistics.connections_current
        )
        yield CounterMetricFamily(
            "memories_sidecar_resp_connections_accepted",
            "RESP connections accepted since start",
            value=statistics.connections_total,
        )
        yield CounterMetricFamily(
            "memories_sidecar_resp_connections_rejected",
            "RESP connections refused at the connection limit",
            value=statistics.connections_rejected,
        )
        yield CounterMetricFamily(
            "memories_sidecar_resp_protocol_errors", "Malformed RESP requests", value=statistics.protocol_errors
        )
        yield CounterMetricFamily(
            "memories_sidecar_resp_output_limit_closes",
            "RESP connections closed because their unsent replies exceeded server.limits.maxOutputBuffer",
            value=statistics.output_limit_closes,
        )
        latency = statistics.batch_latency
        yield HistogramMetricFamily(
            "memories_sidecar_resp_batch_duration_seconds",
            "Seconds from reading a batch of (pipelined) RESP commands until their last reply is ready to write",
            buckets=latency.cumulative(),
            sum_value=latency.sum,
        )


class SidecarMetrics:
    """The registry served on ``/metrics`` and the sidecar's own metric objects."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.http_request_duration = Histogram(
            "memories_sidecar_http_request_duration_seconds",
            "HTTP API request latency in seconds, by method, route and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.http_connections = Gauge(
            "memories_sidecar_http_connections", "Open HTTP data API connections", registry=self.registry
        )
        self.http_connections_rejected = Counter(
            "memories_sidecar_http_connections_rejected",
            "HTTP connections answered 503 and closed at server.limits.maxHttpConnections",
            registry=self.registry,
        )
        self.http_body_timeouts = Counter(
            "memories_sidecar_http_body_timeouts",
            "HTTP requests refused (408) because no body bytes arrived for server.limits.httpBodyTimeout",
            registry=self.registry,
        )
        self.http_client_disconnects = Counter(
            "memories_sidecar_http_client_disconnects",
            "HTTP requests cut short because the client went away (logged at debug level only)",
            registry=self.registry,
        )
        self.prefetch_model_errors = Counter(
            "memories_sidecar_prefetch_model_errors",
            "Prefetch models that could not be loaded (the agent serves without prefetch; /readyz says why)",
            registry=self.registry,
        )
        self.degradations = Gauge(
            "memories_sidecar_degradations",
            "Things that work other than configured now (L2 off, L3 unreachable, a rejected config, no prefetch "
            "model); /readyz lists them",
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "memories_sidecar_config_reloads", "Config file changes applied", registry=self.registry
        )
        self.config_reload_errors = Counter(
            "memories_sidecar_config_reload_errors",
            "Config file changes rejected (the previous config stays in effect)",
            registry=self.registry,
        )

    def add(self, collectors: Iterable[Collector]) -> None:
        """Serve these collectors too."""
        for collector in collectors:
            self.registry.register(collector)

    def render(self) -> bytes:
        """The text exposition format of everything registered."""
        return generate_latest(self.registry)
