"""The sidecar agent: engine, RESP server, HTTP API and ops endpoints wired from one config.

Lifecycle: :meth:`SidecarAgent.start` binds every listener (ops first, so probes answer
while the cache recovers its L2 index in the background); SIGTERM/SIGINT make
:meth:`SidecarAgent.run` stop accepting, finish in-flight requests, close the engine and return, all
within ``shutdown.gracePeriod``. Closing the cache writes every L1 entry that L2 can hold and does not hold yet to
L2 and waits for L2's writes to land (without L3 coherence, see docs/consistency.md), so what was acknowledged
survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

from aiohttp import web

from memories.errors import ConfigError
from memories.sidecar.config import SidecarConfig, read_auth_token
from memories.sidecar.config_watch import ConfigWatcher
from memories.sidecar.engine import Engine, build_engine, engine_collectors, load_prefetch
from memories.sidecar.http.api import HttpApi
from memories.sidecar.http.server import HttpListener
from memories.sidecar.metrics import RespCollector, SidecarMetrics
from memories.sidecar.ops import ops_application
from memories.sidecar.resp.commands import CommandTable, RespLimits, RespStatistics
from memories.sidecar.resp.server import RespServer

logger = logging.getLogger(__name__)


class SidecarAgent:
    """One running sidecar. ``config_path`` (optional) is watched every ``reload_interval`` seconds."""

    def __init__(self, config: SidecarConfig, *, config_path: str | Path | None = None, reload_interval: float = 2.0):
        self.config = config
        self.config_path = config_path
        self.reload_interval = reload_interval
        self.metrics = SidecarMetrics()
        self.engine: Engine = build_engine(config)
        self._token = read_auth_token(config)
        limits = config.server.limits
        self.commands = CommandTable(
            self.engine.cache,
            RespLimits(max_value_size=limits.max_value_size, max_key_length=limits.max_key_length),
            RespStatistics(),
            self._token,
        )
        self.resp = RespServer(
            self.commands,
            max_connections=limits.max_connections,
            read_timeout=limits.read_timeout,
            max_bulk_length=limits.max_value_size,
            max_request_size=limits.max_request_size,
            max_output_buffer=limits.max_output_buffer,
        )
        self.http = HttpApi(self.engine, lambda: self.config.server.limits, lambda: self._token, self.metrics)
        self.metrics.add([RespCollector(self.commands), *engine_collectors(self.engine)])
        self._runners: list[web.AppRunner] = []
        self._http_listener: HttpListener | None = None
        self.http_address: tuple[str, int] | None = None
        self.ops_address: tuple[str, int] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._started = False
        self._stopping = False
        #: Why the config file's latest change was rejected (None once a valid one is applied).
        self._config_rejected: str | None = None
        self.metrics.degradations.set_function(lambda: len(self.degradations()))
        self._stop = asyncio.Event()

    def readiness(self) -> str | None:
        """None when ready to serve, else why not."""
        if self._stopping:
            return "shutting down"
        if not self._started:
            return "starting"
        if not getattr(self.engine.cache, "ready", True):
            return "cache L2 index recovery in progress"
        return None

    def degradations(self) -> list[str]:
        """What works other than configured, one sentence each (empty when nothing is degraded): the cache's
        (L2 off, L3 unreachable), a rejected config change, a prefetch model that did not load."""
        found = self.engine.cache.degradations()
        if self._config_rejected is not None:
            found.append(self._config_rejected)
        if self.engine.prefetch.error is not None:
            found.append(f"prefetch off: {self.engine.prefetch.error}")
        return found

    async def start(self) -> None:
        """Bind every listener and start the engine. Raises OSError when a port is taken."""
        server = self.config.server
        self.ops_address = await self._serve(
            ops_application(self.metrics, self.readiness, self.degradations), server.ops.host, server.ops.port
        )
        self._background.append(asyncio.create_task(self._start_engine()))
        await self.resp.start(server.resp.host, server.resp.port, server.resp.unix_socket)
        if server.http.port is not None:
            self._http_listener = HttpListener(
                self.http.application(),
                lambda: self.config.server.limits,
                self.metrics,
                shutdown_timeout=self.config.shutdown.grace_period,
            )
            self.http_address = await self._http_listener.start(server.http.host, server.http.port)
        if self.config_path is not None:
            watcher = ConfigWatcher(
                self.config_path, self.apply_config, self._reload_failed, interval=self.reload_interval
            )
            self._background.append(asyncio.create_task(watcher.run()))
        self._started = True
        logger.info(
            "sidecar serving RESP on %s%s, HTTP on %s, ops on %s",
            self.resp.tcp_address,
            f" and {self.resp.unix_socket}" if self.resp.unix_socket else "",
            self.http_address,
            self.ops_address,
        )

    async def _serve(self, app: web.Application, host: str, port: int | None) -> tuple[str, int] | None:
        if port is None:
            return None
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.config.shutdown.grace_period)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runners.append(runner)
        address = runner.addresses[0]
        return (str(address[0]), int(address[1]))

    async def _start_engine(self) -> None:
        started = time.monotonic()
        await self.engine.cache.start()
        self.engine.monitor.start()
        load_prefetch(self.engine, self.config)
        if self.engine.prefetch.error is not None:
            self.metrics.prefetch_model_errors.inc()
        logger.info("cache ready after %.2fs", time.monotonic() - started)

    async def apply_config(self, config: SidecarConfig) -> None:
        """Apply a reloaded config: limits, auth token and grace period take effect now; changes to
        listeners, cache tiers, compression, dedup, pool or prefetch are logged as needing a restart.

        Raises ConfigError (nothing applied) when the new auth token file cannot be read.
        """
        token = read_auth_token(config)
        restart_needed = [
            name
            for name in ("cache", "compression", "dedup", "memory_pool", "prefetch")
            if getattr(config, name) != getattr(self.config, name)
        ]
        for listener in ("resp", "http", "ops"):
            if getattr(config.server, listener) != getattr(self.config.server, listener):
                restart_needed.append(f"server.{listener}")
        if restart_needed:
            logger.warning("config changes to %s take effect after a restart", ", ".join(restart_needed))
        limits = config.server.limits
        self.commands.limits = RespLimits(max_value_size=limits.max_value_size, max_key_length=limits.max_key_length)
        self.resp.max_connections = limits.max_connections
        self.resp.read_timeout = limits.read_timeout
        self.resp.max_bulk_length = limits.max_value_size
        self.resp.max_request_size = limits.max_request_size
        self.resp.max_output_buffer = limits.max_output_buffer
        self._token = token
        self.commands.token = token
        self.config = config
        self._config_rejected = None
        self.metrics.config_reloads.inc()

    def _reload_failed(self, error: ConfigError) -> None:
        self._config_rejected = f"config {self.config_path} rejected, the previous config stays in effect: {error}"
        self.metrics.config_reload_errors.inc()

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does)."""
        self._stop.set()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT or :meth:`request_stop`, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, self.request_stop)
        await self.start()
        await self._stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, finish in-flight requests, close the engine; bounded by the grace period."""
        self._stopping = True
        deadline = time.monotonic() + self.config.shutdown.grace_period
        logger.info("shutting down (grace period %.1fs)", self.config.shutdown.grace_period)
        self.resp.stop_accepting()
        for task in self._background:
            task.cancel()
        await self.resp.close(max(0.0, deadline - time.monotonic()) * 0.5)
        if self._http_listener is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http_listener.close(), timeout=max(0.1, deadline - time.monotonic()) * 0.5)
        for runner in reversed(self._runners):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner.cleanup(), timeout=max(0.1, deadline - time.monotonic()) * 0.5)
        await self._close_engine(max(0.1, deadline - time.monotonic()))
        logger.info("sidecar stopped")

    async def _close_engine(self, wait_seconds: float) -> None:
        engine = self.engine
        with contextlib.suppress(Exception):
            engine.monitor.stop()
        try:
            # The cache bounds its own flush to L2 by the time left; the outer bound is for the other parts.
            await asyncio.wait_for(self._close_parts(wait_seconds * 0.9), timeout=wait_seconds)
        except TimeoutError:
            logger.error("engine did not close within %.1fs; the L2 index may need a rescan on restart", wait_seconds)

    async def _close_parts(self, cache_seconds: float) -> None:
        started = time.monotonic()
        if self.engine.prefetch.predictor is not None:
            await self.engine.prefetch.predictor.stop()
        await self.engine.cache.close(max(0.1, cache_seconds - (time.monotonic() - started)))
        if self.engine.l2_slot is not None:
            self.engine.l2_slot.release()
        if self.engine.dedup is not None:
            self.engine.dedup.close()
        if self.engine.pool is not None:
            self.engine.pool.close()
