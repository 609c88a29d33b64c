"""The operator's API session: kopf's credentials on a bounded connection pool."""

from __future__ import annotations

import asyncio

import kopf
from aiohttp import web

from memories.operator.login import pooled_session


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_concurrent_requests_share_at_most_limit_connections() -> None:
    peers: set[object] = set()

    async def slow(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        await asyncio.sleep(0.05)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow)
    runner, url = await serve(app)
    try:
        context = pooled_session(kopf.ConnectionInfo(server=url), limit=3)
        async with context.aiohttp_session as session:

            async def fetch() -> str:
                async with session.get(url) as response:
                    return await response.text()

            assert await asyncio.gather(*(fetch() for _ in range(12))) == ["ok"] * 12
    finally:
        await runner.cleanup()
    assert len(peers) == 3


async def test_session_sends_the_credentials_token() -> None:
    seen: list[str | None] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", record)
    runner, url = await serve(app)
    try:
        context = pooled_session(kopf.ConnectionInfo(server=url, token="secret-token"))
        assert context.server == url
        async with context.aiohttp_session as session, session.get(url) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()
    assert seen == ["Bearer secret-token"]
