"""Faults a running agent survives, as a real process: a ConfigMap update with invalid YAML, a corrupt prefetch
model, an L2 directory it cannot use. Each time the agent keeps serving byte-exact values, logs what is wrong,
counts it in a metric and lists it on ``/readyz`` (200 ``degraded``: it still serves) until it is fixed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.sidecar.agent_process import MODULE_COMMAND, SidecarProcess
from tests.sidecar.configmap_volume import configmap_volume, swap_configmap
from tests.sidecar.conftest import sidecar_document

RELOADING = [*MODULE_COMMAND, "--reload-interval", "0.1s"]


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def store_values(agent: SidecarProcess, count: int = 50) -> dict[bytes, bytes]:
    """Write ``count`` binary values (every byte value, varying lengths); return them."""
    values = {f"key:{index}".encode(): os.urandom(1 + index * 97) for index in range(count)}
    redis.Redis(port=agent.resp_port).mset(values)
    return values


def assert_serves(agent: SidecarProcess, values: dict[bytes, bytes]) -> None:
    client = redis.Redis(port=agent.resp_port)
    assert client.mget(list(values)) == list(values.values())
    assert client.set(b"probe", b"\x00\xff\r\n") and client.get(b"probe") == b"\x00\xff\r\n"


def test_invalid_yaml_on_reload_keeps_the_last_good_config_and_is_reported_until_fixed(
    tmp_path: Path, processes: list[SidecarProcess]
) -> None:
    document = sidecar_document()
    path = configmap_volume(tmp_path / "volume", document)
    agent = SidecarProcess(path, RELOADING)
    processes.append(agent)
    agent.wait_ready()
    values = store_values(agent)
    assert agent.ops("/readyz") == (200, "ready\n")

    swap_configmap(tmp_path / "volume", "cache: [unclosed\n", "..v2")
    eventually(lambda: agent.ops("/readyz")[1].startswith("degraded"))
    status, text = agent.ops("/readyz")
    assert status == 200
    assert f"- config {path} rejected, the previous config stays in effect: {path}: not valid YAML" in text
    assert agent.metric("memories_sidecar_config_reload_errors_total") == 1
    assert agent.metric("memories_sidecar_degradations") == 1
    assert_serves(agent, values)

    fixed = {**document, "server": {**document["server"], "limits": {"maxKeyLength": 10}}}
    swap_configmap(tmp_path / "volume", fixed, "..v3")
    eventually(lambda: agent.ops("/readyz") == (200, "ready\n"))
    assert agent.metric("memories_sidecar_degradations") == 0
    assert agent.metric("memories_sidecar_config_reloads_total") == 1
    assert_serves(agent, values)
    with pytest.raises(redis.ResponseError, match="longer than the limit of 10 bytes"):
        redis.Redis(port=agent.resp_port).set(b"k" * 20, b"v")  # the fixed config is in effect

    assert agent.terminate() == 0
    assert agent.process.stdout is not None
    log = agent.process.stdout.read().decode()
    assert f"config {path} changed but is invalid; keeping the previous config: {path}: not valid YAML" in log


def start_degraded(
    tmp_path: Path, processes: list[SidecarProcess], overrides: dict[str, Any]
) -> tuple[SidecarProcess, str]:
    """Start an agent with ``overrides``; wait until ``/readyz`` says degraded (still 200) and return its text."""
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(sidecar_document(overrides)))
    agent = SidecarProcess(path, MODULE_COMMAND)
    processes.append(agent)
    agent.wait_ready()
    eventually(lambda: agent.ops("/readyz")[1].startswith("degraded"))
    status, text = agent.ops("/readyz")
    assert status == 200
    return agent, text


def test_a_corrupt_prefetch_model_leaves_the_agent_serving_without_prefetch(
    tmp_path: Path, processes: list[SidecarProcess]
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07" + os.urandom(4000))  # an ONNX-looking start, then garbage
    prefetch = {"modelPath": str(model), "model": "lstm", "features": ["time"]}
    agent, text = start_degraded(tmp_path, processes, {"prefetch": prefetch})
    assert f"- prefetch off: model file {model}: not a memories predictor ONNX model" in text
    assert agent.metric("memories_sidecar_prefetch_model_errors_total") == 1
    assert agent.metric("memories_sidecar_degradations") == 1
    values = store_values(agent)
    assert_serves(agent, values)
    assert agent.terminate() == 0


def test_an_unusable_l2_directory_is_listed_on_readyz(tmp_path: Path, processes: list[SidecarProcess]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = {"l1Size": "1MB", "l2Size": "16MB", "l2Path": str(blocker / "l2")}
    agent, text = start_degraded(tmp_path, processes, {"cache": cache})
    assert f"- l2 off: cannot use the L2 directory {blocker / 'l2'}: Not a directory" in text
    assert agent.metric("memories_sidecar_degradations") == 1
    assert_serves(agent, store_values(agent))
    assert agent.terminate() == 0
