"""The HTTP API over real loopback connections, checked against openapi.yaml."""

from __future__ import annotations

import asyncio
import json
import mmap
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from memories.optimization.compression import CompressedData
from tests.sidecar.conftest import RunningSidecar, sidecar_document
from tests.sidecar.openapi_check import openapi, response_schema, schema_errors


async def request(sidecar: RunningSidecar, method: str, path: str, spec_path: str, **kwargs: Any) -> tuple[int, bytes]:
    """Make a request and check the response's status and JSON body against the spec."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sidecar.http_url + path, **kwargs) as response,
    ):
        body = await response.read()
        schema = response_schema(spec_path, method, response.status)
        if schema is not None:
            assert response.content_type == "application/json"
            assert schema_errors(json.loads(body), schema) == []
        return response.status, body


def test_every_route_is_in_the_spec_and_every_spec_path_is_served(sidecar: RunningSidecar) -> None:
    app = sidecar.agent.http.application()
    served = set()
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if route.method != "HEAD":  # aiohttp adds HEAD to every GET
            served.add((canonical.replace("{key:.+}", "{key}"), route.method.lower()))
    documented = {
        (path, method) for path, item in openapi()["paths"].items() for method in item if method != "parameters"
    }
    assert served == documented


async def test_put_get_delete_cache_entry(sidecar: RunningSidecar) -> None:
    path = "/v1/cache/{key}"
    assert (await request(sidecar, "PUT", "/v1/cache/a/b", path, data=b"value"))[0] == 204
    assert await request(sidecar, "GET", "/v1/cache/a/b", path) == (200, b"value")
    assert (await request(sidecar, "DELETE", "/v1/cache/a/b", path))[0] == 204
    assert (await request(sidecar, "GET", "/v1/cache/a/b", path))[0] == 404
    assert (await request(sidecar, "DELETE", "/v1/cache/a/b", path))[0] == 404


async def test_put_with_ttl_sets_expiry(sidecar: RunningSidecar) -> None:
    await request(sidecar, "PUT", "/v1/cache/k?ttl=90s", "/v1/cache/{key}", data=b"v")
    await request(sidecar, "PUT", "/v1/cache/h", "/v1/cache/{key}", data=b"v", headers={"X-Memories-TTL": "2m"})
    cache = sidecar.agent.engine.cache
    assert 85 <= sidecar.call(cache.get_ttl("k")) <= 90
    assert 115 <= sidecar.call(cache.get_ttl("h")) <= 120


async def test_bad_ttl_is_a_400_naming_the_field(sidecar: RunningSidecar) -> None:
    status, body = await request(sidecar, "PUT", "/v1/cache/k?ttl=soon", "/v1/cache/{key}", data=b"v")
    assert status == 400
    assert "ttl: cannot parse duration" in json.loads(body)["error"]["message"]


async def test_value_over_limit_is_413(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"maxValueSize": 1000}}}))
    status, body = await request(sidecar, "PUT", "/v1/cache/k", "/v1/cache/{key}", data=b"x" * 5000)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"


async def test_chunked_value_over_limit_is_413(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"maxValueSize": 1000}}}))

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            if index == 3:
                # Past the limit: the agent answers and closes without reading the rest (so a client still sending
                # could see a reset instead; this one reads its answer first).
                await asyncio.sleep(0.5)
            yield b"x" * 400

    status, _ = await request(sidecar, "PUT", "/v1/cache/k", "/v1/cache/{key}", data=chunks())
    assert status == 413


async def test_missing_or_wrong_token_is_401(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0ken")
    sidecar = start_sidecar(sidecar_document({"server": {"authTokenFile": str(tmp_path / "token")}}))
    assert (await request(sidecar, "GET", "/v1/prefetch/status", "/v1/prefetch/status"))[0] == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await request(sidecar, "GET", "/v1/prefetch/status", "/v1/prefetch/status", headers=wrong))[0] == 401
    right = {"Authorization": "Bearer t0ken"}
    assert (await request(sidecar, "GET", "/v1/prefetch/status", "/v1/prefetch/status", headers=right))[0] == 200


async def test_compress_decompress_stream_round_trip_larger_than_chunk(
    start_sidecar: Callable[..., RunningSidecar],
) -> None:
    sidecar = start_sidecar(sidecar_document({"compression": {"algorithm": "zstd", "chunkSize": "64KB"}}))
    original = os.urandom(100_000) * 3 + bytes(200_000)  # 500 KB: several chunks

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(original), 50_000):
            yield original[start : start + 50_000]

    status, compressed = await request(sidecar, "POST", "/v1/compress", "/v1/compress", data=body())
    assert status == 200
    assert len(compressed) < len(original)
    assert CompressedData.from_bytes(compressed).metadata.original_size == len(original)
    status, restored = await request(sidecar, "POST", "/v1/decompress", "/v1/decompress", data=compressed)
    assert status == 200
    assert restored == original


async def test_compress_response_is_chunked(sidecar: RunningSidecar) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(sidecar.http_url + "/v1/compress", data=b"x" * 1000) as response,
    ):
        assert response.headers.get("Transfer-Encoding") == "chunked"
        await response.read()


async def test_decompress_of_garbage_is_400(sidecar: RunningSidecar) -> None:
    status, _ = await request(sidecar, "POST", "/v1/decompress", "/v1/decompress", data=b"not a container" * 10)
    assert status == 400


async def test_dedup_blob_round_trip_and_metrics(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    sidecar = start_sidecar(sidecar_document({"dedup": {"enabled": True, "blockSize": "4KB"}}))
    blob = os.urandom(4096) * 8
    status, body = await request(sidecar, "POST", "/v1/dedup/blobs", "/v1/dedup/blobs", data=blob)
    assert status == 201
    blob_id = json.loads(body)["id"]
    assert await request(sidecar, "GET", f"/v1/dedup/blobs/{blob_id}", "/v1/dedup/blobs/{id}") == (200, blob)
    status, body = await request(sidecar, "GET", "/v1/dedup/metrics", "/v1/dedup/metrics")
    assert json.loads(body)["logicalBytes"] >= len(blob) > json.loads(body)["physicalBytes"]
    assert (await request(sidecar, "DELETE", f"/v1/dedup/blobs/{blob_id}", "/v1/dedup/blobs/{id}"))[0] == 204
    assert (await request(sidecar, "GET", f"/v1/dedup/blobs/{blob_id}", "/v1/dedup/blobs/{id}"))[0] == 404


async def test_dedup_disabled_is_404_not_configured(sidecar: RunningSidecar) -> None:
    status, body = await request(sidecar, "GET", "/v1/dedup/metrics", "/v1/dedup/metrics")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_configured"


async def test_pool_block_allocate_and_release(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    arena = tmp_path / "arena"
    sidecar = start_sidecar(
        sidecar_document({"memoryPool": {"blockSizes": ["4KB", "64KB"], "totalSize": "1MB", "path": str(arena)}})
    )
    status, body = await request(sidecar, "POST", "/v1/pool/blocks", "/v1/pool/blocks", json={"size": 5000})
    assert status == 201
    block = json.loads(body)
    assert block["capacity"] == 64 * 1024 and block["size"] == 5000
    assert block["path"] == str(arena)
    path = f"/v1/pool/blocks/{block['id']}"
    payload = os.urandom(5000)
    with arena.open("r+b") as file, mmap.mmap(file.fileno(), 0) as mapping:  # the workload's own mapping
        mapping[block["offset"] : block["offset"] + len(payload)] = payload
    assert await request(sidecar, "GET", path, "/v1/pool/blocks/{id}") == (200, payload)
    assert (await request(sidecar, "DELETE", path, "/v1/pool/blocks/{id}"))[0] == 204
    assert (await request(sidecar, "DELETE", path, "/v1/pool/blocks/{id}"))[0] == 404
    assert (await request(sidecar, "GET", path, "/v1/pool/blocks/{id}"))[0] == 404


async def test_pool_bad_size_is_400(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    sidecar = start_sidecar(sidecar_document({"memoryPool": {"blockSizes": ["4KB"], "totalSize": "64KB"}}))
    status, _ = await request(sidecar, "POST", "/v1/pool/blocks", "/v1/pool/blocks", json={"size": "lots"})
    assert status == 400


async def test_prefetch_status_without_model(sidecar: RunningSidecar) -> None:
    status, body = await request(sidecar, "GET", "/v1/prefetch/status", "/v1/prefetch/status")
    assert status == 200
    assert json.loads(body) == {"enabled": False, "modelPath": None, "loaded": False, "error": None}


@pytest.mark.parametrize("path", ["/v1/nothing", "/"])
async def test_unknown_path_is_json_404(sidecar: RunningSidecar, path: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(sidecar.http_url + path) as response:
        assert response.status == 404
        assert "error" in await response.json()


async def test_corruption_after_the_first_chunk_cuts_the_stream_short(
    start_sidecar: Callable[..., RunningSidecar],
) -> None:
    sidecar = start_sidecar(sidecar_document({"compression": {"chunkSize": "64KB"}}))
    original = os.urandom(400_000)
    _, compressed = await request(sidecar, "POST", "/v1/compress", "/v1/compress", data=original)
    damaged = bytearray(compressed)
    damaged[-1000] ^= 0xFF  # inside the last chunk: earlier chunks verify and stream first
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with (
            aiohttp.ClientSession() as session,
            session.post(sidecar.http_url + "/v1/decompress", data=bytes(damaged)) as response,
        ):
            assert response.status == 200
            async for chunk in response.content.iter_any():
                received += chunk
    assert original.startswith(received) and len(received) < len(original)
