"""The HTTP data API (aiohttp), documented in ``memories/sidecar/openapi.yaml``.

Cache entries, streaming compression, the dedup blob store, shared-memory pool blocks and
prefetch status. Errors are JSON ``{"error": {"code", "message"}}`` with the right status
(400 bad input, 401 auth, 404 absent, 413 too large, 503 pool exhausted). Compression
streams request to response chunk by chunk; no endpoint buffers more than its size limit.

A request is admitted on its headers first: a missing or wrong token (401) or a declared Content-Length over the
route's limit (413) is answered before any of the body is read, ``Expect: 100-continue`` included (the client is
told to go on only once admitted), and a body left unread is not drained afterwards: the connection is closed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from memories.errors import ConfigError, CorruptDataError, PoolExhausted, ValueTooLarge
from memories.sidecar.config import LimitsConfig
from memories.sidecar.engine import Engine
from memories.sidecar.metrics import SidecarMetrics
from memories.units import parse_duration, parse_size

if TYPE_CHECKING:
    from memories.optimization.dedup import Deduplicator
    from memories.optimization.pools import MemoryPool

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STREAM_READ_SIZE = 256 * 1024
TTL_HEADER = "X-Memories-TTL"
#: The status recorded (never sent) for a request whose client went away: nginx's "client closed request".
CLIENT_CLOSED_REQUEST = 499


class ApiError(Exception):
    """An error answered as JSON with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The JSON error response every endpoint uses."""
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


@dataclass(frozen=True)
class BodyLimit:
    """The largest body a route reads: ``size(limits)`` bytes of ``what`` (named in the 413's message)."""

    what: str
    size: Callable[[LimitsConfig], int]


VALUE_LIMIT = BodyLimit("value", lambda limits: limits.max_value_size)
BLOB_LIMIT = BodyLimit("blob", lambda limits: limits.max_request_size)
POOL_REQUEST_LIMIT = BodyLimit("request", lambda limits: 4096)


class HttpApi:
    """Builds the aiohttp application over one engine.

    ``limits`` and ``token`` are callables so a config reload applies to the next request.
    """

    def __init__(
        self,
        engine: Engine,
        limits: Callable[[], LimitsConfig],
        token: Callable[[], str | None],
        metrics: SidecarMetrics,
    ) -> None:
        self._engine = engine
        self._limits = limits
        self._token = token
        self._metrics = metrics
        self._blocks: dict[str, Any] = {}
        self._body_limits: dict[web.AbstractRoute, BodyLimit] = {}

    def application(self) -> web.Application:
        """A new application with every route and middleware."""
        app = web.Application(
            middlewares=[self._measure, self._errors, self._admit],
            client_max_size=self._limits().max_request_size,
        )
        self._route(app, "GET", "/v1/cache/{key:.+}", self.get_entry)
        self._route(app, "PUT", "/v1/cache/{key:.+}", self.put_entry, VALUE_LIMIT)
        self._route(app, "DELETE", "/v1/cache/{key:.+}", self.delete_entry)
        self._route(app, "POST", "/v1/compress", self.compress)
        self._route(app, "POST", "/v1/decompress", self.decompress)
        self._route(app, "POST", "/v1/dedup/blobs", self.put_blob, BLOB_LIMIT)
        self._route(app, "GET", "/v1/dedup/blobs/{id}", self.get_blob)
        self._route(app, "DELETE", "/v1/dedup/blobs/{id}", self.delete_blob)
        self._route(app, "GET", "/v1/dedup/metrics", self.dedup_metrics)
        self._route(app, "POST", "/v1/pool/blocks", self.allocate_block, POOL_REQUEST_LIMIT)
        self._route(app, "GET", "/v1/pool/blocks/{id}", self.read_block)
        self._route(app, "DELETE", "/v1/pool/blocks/{id}", self.release_block)
        self._route(app, "GET", "/v1/prefetch/status", self.prefetch_status)
        return app

    def _route(
        self, app: web.Application, method: str, path: str, handler: Handler, body_limit: BodyLimit | None = None
    ) -> None:
        """Serve ``handler``; a route with a ``body_limit`` reads a body of at most that size (others stream theirs
        or read none)."""
        route = app.router.add_route(method, path, handler, expect_handler=self._expect_continue)
        if body_limit is not None:
            self._body_limits[route] = body_limit

    # --- middleware ---------------------------------------------------------------------------

    @web.middleware
    async def _measure(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            self._metrics.http_request_duration.labels(request.method, route, str(status)).observe(
                time.perf_counter() - started
            )

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConnectionError:
            if not _client_gone(request):
                raise
            # A client that leaves mid-request is routine: a debug line and a count, not an ERROR traceback.
            self._metrics.http_client_disconnects.inc()
            logger.debug("%s %s: the client disconnected mid-request", request.method, request.path)
            return web.Response(status=CLIENT_CLOSED_REQUEST)
        except ApiError as error:
            return json_error(error.status, error.code, error.message)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return json_error(error.status, error.reason.lower().replace(" ", "_"), error.text or error.reason)
        except (ValueTooLarge, web.HTTPRequestEntityTooLarge) as error:
            return json_error(413, "too_large", str(error))
        except (ConfigError, CorruptDataError) as error:
            return json_error(400, "invalid", str(error))

    @web.middleware
    async def _admit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = self._refusal(request)
        return refusal if refusal is not None else await handler(request)

    async def _expect_continue(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: the refusal, answered before the client sends the body, or "go on"."""
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if request.headers.get("Expect", "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"unknown Expect: {request.headers['Expect']}")
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The answer to a request refused on its headers alone, or None: 401 for a missing or wrong token, 413
        for a declared Content-Length over the route's body limit."""
        token = self._token()
        if token is not None:
            header = request.headers.get("Authorization", "")
            given = header[7:] if header.startswith("Bearer ") else ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return json_error(
                    401,
                    "unauthorized",
                    "missing or wrong bearer token (Authorization: Bearer <token>)",
                    headers={"WWW-Authenticate": 'Bearer realm="memories"'},
                )
        body_limit = self._body_limits.get(request.match_info.route)
        declared = request.content_length
        if body_limit is not None and declared is not None and declared > (limit := body_limit.size(self._limits())):
            return json_error(413, "too_large", f"{body_limit.what} of {declared} bytes exceeds the limit of {limit}")
        return None

    # --- helpers ------------------------------------------------------------------------------

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole body of a route with a body limit (413 past it, for a chunked body too)."""
        body_limit = self._body_limits[request.match_info.route]
        limit = body_limit.size(self._limits())
        chunks: list[bytes] = []
        total = 0
        async for chunk in self._body(request):
            total += len(chunk)
            if total > limit:
                raise ApiError(413, "too_large", f"{body_limit.what} exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _key(self, request: web.Request) -> str:
        key = request.match_info["key"]
        limit = self._limits().max_key_length
        if len(key.encode("utf-8", "surrogateescape")) > limit:
            raise ApiError(400, "key_too_long", f"key is longer than the limit of {limit} bytes")
        return key

    @staticmethod
    def _ttl(request: web.Request) -> float | None:
        text = request.query.get("ttl") or request.headers.get(TTL_HEADER)
        return None if text is None else parse_duration(text, field="ttl", allow_zero=False)

    def _dedup(self) -> Deduplicator:
        if self._engine.dedup is None:
            raise ApiError(404, "not_configured", "dedup is not enabled in this sidecar's config (dedup.enabled)")
        return self._engine.dedup

    def _pool(self) -> MemoryPool:
        if self._engine.pool is None:
            raise ApiError(404, "not_configured", "the memory pool is not configured (memoryPool)")
        return self._engine.pool

    async def _body(self, request: web.Request) -> AsyncIterator[bytes]:
        """The request body in chunks of at most STREAM_READ_SIZE bytes as they arrive; 408 (the connection is then
        closed) when none arrives for ``httpBodyTimeout`` seconds."""
        reader = request.content
        while True:
            # What has arrived is taken without arming a timer (a small body usually came with the headers).
            chunk = reader.read_nowait(STREAM_READ_SIZE)
            if not chunk:
                if reader.at_eof():
                    return
                timeout = self._limits().http_body_timeout
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await reader.read(STREAM_READ_SIZE)
                except TimeoutError:
                    self._metrics.http_body_timeouts.inc()
                    raise ApiError(408, "body_timeout", f"no request body bytes arrived for {timeout:g}s") from None
                if not chunk:
                    return
            yield chunk

    # --- cache --------------------------------------------------------------------------------

    async def get_entry(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/cache/{key}: the value bytes, or 404."""
        key = self._key(request)
        value = await self._engine.cache.get(key)
        if value is None:
            raise ApiError(404, "not_found", f"no cache entry for key {key!r}")
        if not isinstance(value, bytes):
            raise ApiError(409, "not_bytes", f"entry {key!r} holds a {type(value).__name__}, not bytes")
        return web.Response(body=value, content_type="application/octet-stream")

    async def put_entry(self, request: web.Request) -> web.StreamResponse:
        """PUT /v1/cache/{key}?ttl=30s: store the body (at most maxValueSize bytes)."""
        key = self._key(request)
        ttl = self._ttl(request)
        value = await self._read_body(request)
        await self._engine.cache.set(key, value, ttl=ttl)
        return web.Response(status=204)

    async def delete_entry(self, request: web.Request) -> web.StreamResponse:
        """DELETE /v1/cache/{key}: 204, or 404 when absent."""
        key = self._key(request)
        if not await self._engine.cache.delete(key):
            raise ApiError(404, "not_found", f"no cache entry for key {key!r}")
        return web.Response(status=204)

    # --- compression streams ----------------------------------------------------------------

    async def compress(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/compress: the body, compressed in the container format, streamed back."""
        return await self._stream(request, self._engine.compressor.compress_stream(self._body(request)))

    async def decompress(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/decompress: a container streamed back as original bytes (each chunk verified)."""
        return await self._stream(request, self._engine.compressor.decompress_stream(self._body(request)))

    async def _stream(self, request: web.Request, output: AsyncIterator[bytes]) -> web.StreamResponse:
        # Errors before the first chunk get a JSON 400; later ones cut the chunked body short,
        # which every HTTP client reports as a failed transfer (never as a complete one).
        try:
            first = await anext(output, b"")
        except (CorruptDataError, ValueError) as error:
            raise ApiError(400, "invalid", str(error)) from error
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(first)
        try:
            async for chunk in output:
                await response.write(chunk)
        except (CorruptDataError, ValueError, ApiError) as error:
            # The status is already sent: dropping the connection leaves the chunked body
            # unterminated, which clients report as a failed transfer.
            logger.warning("%s %s: stream aborted: %s", request.method, request.path, error)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    # --- dedup ----------------------------------------------------------------------------------

    async def put_blob(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/dedup/blobs?name=...: store the body deduplicated; 201 {id, size}."""
        dedup = self._dedup()
        data = await self._read_body(request)
        recipe = await dedup.process(data, name=request.query.get("name"))
        return web.json_response({"id": recipe.input_id, "size": len(data)}, status=201)

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/dedup/blobs/{id}: the original bytes."""
        dedup = self._dedup()
        try:
            data = await dedup.restore(request.match_info["id"])
        except KeyError as error:
            raise ApiError(404, "not_found", f"no blob {request.match_info['id']!r}") from error
        return web.Response(body=data, content_type="application/octet-stream")

    async def delete_blob(self, request: web.Request) -> web.StreamResponse:
        """DELETE /v1/dedup/blobs/{id}: forget the blob; blocks nobody else uses are freed."""
        dedup = self._dedup()
        try:
            await dedup.delete(request.match_info["id"])
        except KeyError as error:
            raise ApiError(404, "not_found", f"no blob {request.match_info['id']!r}") from error
        return web.Response(status=204)

    async def dedup_metrics(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/dedup/metrics: savings so far."""
        dedup = self._dedup()
        metrics = dedup.get_metrics()
        return web.json_response(
            {
                "logicalBytes": metrics.logical_bytes,
                "physicalBytes": metrics.physical_bytes,
                "dedupRatio": metrics.dedup_ratio,
                "spaceSavedGb": metrics.space_saved_gb,
                "totalBlocks": metrics.total_blocks,
                "uniqueBlocks": metrics.unique_blocks,
                "inputs": metrics.inputs,
            }
        )

    # --- memory pool ----------------------------------------------------------------------

    async def allocate_block(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/pool/blocks {"size": 4096 | "4KB"}: 201 {id, offset, size, capacity, path}."""
        pool = self._pool()
        body = await self._read_body(request)
        try:
            document = json.loads(body)
            size = parse_size(document["size"], field="size", allow_zero=False)
        except (ValueError, KeyError, TypeError) as error:
            raise ApiError(400, "invalid", f'expected a JSON body like {{"size": 4096}}: {error}') from error
        try:
            block = await pool.allocate(size)
        except PoolExhausted as error:
            raise ApiError(503, "pool_exhausted", str(error)) from error
        block_id = str(block.id)
        self._blocks[block_id] = block
        path = pool.path
        document = {
            "id": block_id,
            "offset": block.offset,
            "size": block.size,
            "capacity": block.capacity,
            "path": None if path is None else str(path),
        }
        return web.json_response(document, status=201)

    async def read_block(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/pool/blocks/{id}: the block's ``size`` bytes as the agent sees them in the arena (what the
        workload wrote through its own mapping of ``path``)."""
        self._pool()
        block = self._blocks.get(request.match_info["id"])
        if block is None:
            raise ApiError(404, "not_found", f"no allocated block {request.match_info['id']!r}")
        return web.Response(body=bytes(block.view), content_type="application/octet-stream")

    async def release_block(self, request: web.Request) -> web.StreamResponse:
        """DELETE /v1/pool/blocks/{id}: give the block back."""
        pool = self._pool()
        block = self._blocks.pop(request.match_info["id"], None)
        if block is None:
            raise ApiError(404, "not_found", f"no allocated block {request.match_info['id']!r}")
        await pool.release(block)
        return web.Response(status=204)

    # --- prefetch ---------------------------------------------------------------------------

    async def prefetch_status(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/prefetch/status."""
        status = self._engine.prefetch
        body: dict[str, object] = {
            "enabled": status.enabled,
            "modelPath": status.model_path,
            "loaded": status.loaded,
            "error": status.error,
        }
        if status.predictor is not None:
            stats = status.predictor.stats()
            body["stats"] = {
                "accesses": stats.accesses,
                "prefetched": stats.prefetched,
                "prefetchUsed": stats.prefetch_used,
                "precision": stats.precision,
                "coverage": stats.coverage,
                "inferenceP99Ms": stats.inference_p99_ms,
            }
        return web.json_response(body)


def _client_gone(request: web.Request) -> bool:
    """Whether the request's connection is closed or closing (the client went away)."""
    return request.transport is None or request.transport.is_closing()
