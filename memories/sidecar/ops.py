"""The ops endpoints, on their own port: ``/metrics``, ``/healthz``, ``/readyz`` (with what is degraded).

Kept apart from the data APIs so Prometheus and the kubelet can reach them from outside the
pod (the default bind is 0.0.0.0) while cache data stays on loopback.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from memories.sidecar.metrics import SidecarMetrics


def ops_application(
    metrics: SidecarMetrics, ready: Callable[[], str | None], degradations: Callable[[], list[str]]
) -> web.Application:
    """The ops app. ``ready`` returns None when ready, else the reason it is not; ``degradations`` what works
    other than configured (one sentence each).

    ``/readyz`` answers 503 ``not ready: <reason>`` while starting or stopping; else 200, ``ready`` or, when
    something is degraded, ``degraded`` and then one ``- <reason>`` line each. A degraded agent still serves (from
    the tiers left, with the last good config), so it stays ready: the body and the metrics say why.
    """

    async def serve_metrics(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        reason = ready()
        if reason is not None:
            return web.Response(status=503, text=f"not ready: {reason}\n")
        reasons = degradations()
        if not reasons:
            return web.Response(text="ready\n")
        return web.Response(text="degraded\n" + "".join(f"- {reason}\n" for reason in reasons))

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
