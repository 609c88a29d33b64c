"""The ops endpoints, on their own port: ``/metrics``, ``/healthz``, ``/readyz``.

Kept apart from the data APIs so Prometheus and the kubelet can reach them from outside the
pod (the default bind is 0.0.0.0) while cache data stays on loopback.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from memories.sidecar.metrics import SidecarMetrics


def ops_application(metrics: SidecarMetrics, ready: Callable[[], str | None]) -> web.Application:
    """The ops app. ``ready`` returns None when ready, else the reason it is not (for /readyz)."""

    async def serve_metrics(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        reason = ready()
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
