"""How the operator logs in to the API server: kopf's own credentials, on a bounded connection pool.

Kopf's built-in session opens connections without limit (``TCPConnector(limit=0)``): when 200
CachePolicies are handled at once it opens about 200 TLS connections to the API server, and each
costs about 0.4 MiB in the operator (asyncio's 256 KiB TLS read buffer plus OpenSSL's state). That
memory stays with the process after the burst. A bounded pool makes the extra requests wait a few
milliseconds for a free connection instead.

Importing this module registers the login handler with kopf's default registry.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import kopf

#: Connections kept to the API server at most. About 8 are held by kopf's watch streams (our five
#: resources, CRD discovery, peering); the rest serve patches and status updates.
API_CONNECTION_LIMIT = 32


def pooled_session(info: kopf.ConnectionInfo, limit: int = API_CONNECTION_LIMIT) -> kopf.AiohttpSession:
    """An aiohttp session to ``info.server`` with at most ``limit`` connections (call it in the event loop).

    Raises:
        ssl.SSLError, OSError: the CA or client certificate files in ``info`` cannot be loaded.
    """
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),  # bearer token or basic credentials
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )


@kopf.on.login()
async def login(logger: kopf.Logger, settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.AiohttpSession | None:
    """In-cluster service account, else the kubeconfig (as kopf would), on a bounded connection pool.

    Kopf calls it again after a 401, so rotated tokens are picked up.
    """
    info = kopf.login_via_client(logger=logger, settings=settings, **kwargs)
    return None if info is None else pooled_session(info)
