"""The ops endpoints: Prometheus metrics, liveness and readiness."""

from __future__ import annotations

import aiohttp
import redis

from tests.sidecar.conftest import RunningSidecar


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_metrics_include_engine_and_sidecar_families(sidecar: RunningSidecar) -> None:
    client = redis.Redis(port=sidecar.resp_port)
    client.set("a", "1")
    client.get("a")
    await fetch(sidecar.http_url + "/v1/prefetch/status")
    status, text = await fetch(sidecar.ops_url + "/metrics")
    assert status == 200
    assert 'memories_cache_hits_total{tier="l1"}' in text
    assert "memories_compression_input_bytes_total" in text
    assert 'memories_sidecar_resp_commands_total{command="get"} 1.0' in text
    assert (
        'memories_sidecar_http_request_duration_seconds_count{method="GET",route="/v1/prefetch/status",status="200"} 1.0'
        in text
    )
    assert "memories_sidecar_config_reload_errors_total 0.0" in text


async def test_metrics_include_the_resp_batch_latency_histogram(sidecar: RunningSidecar) -> None:
    client = redis.Redis(port=sidecar.resp_port)
    client.set("a", "1")
    client.get("a")
    status, text = await fetch(sidecar.ops_url + "/metrics")
    assert status == 200
    counts = [
        line for line in text.splitlines() if line.startswith("memories_sidecar_resp_batch_duration_seconds_count")
    ]
    assert len(counts) == 1
    assert float(counts[0].split()[-1]) >= 2  # at least one batch per command (redis-py's handshake adds more)
    assert 'memories_sidecar_resp_batch_duration_seconds_bucket{le="+Inf"}' in text


async def test_healthz_answers_ok(sidecar: RunningSidecar) -> None:
    assert await fetch(sidecar.ops_url + "/healthz") == (200, "ok\n")


async def test_readyz_is_ready_after_start(sidecar: RunningSidecar) -> None:
    assert await fetch(sidecar.ops_url + "/readyz") == (200, "ready\n")


async def test_readyz_is_not_ready_while_shutting_down(sidecar: RunningSidecar) -> None:
    sidecar.agent._stopping = True
    status, text = await fetch(sidecar.ops_url + "/readyz")
    sidecar.agent._stopping = False
    assert status == 503 and "shutting down" in text
