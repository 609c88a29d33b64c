"""Live reload of a ConfigMap-style mounted config (the ..data symlink swap)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.sidecar.configmap_volume import configmap_volume, swap_configmap
from tests.sidecar.conftest import RunningSidecar, sidecar_document


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_symlink_swap_reloads_limits_live(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    document = sidecar_document()
    path = configmap_volume(tmp_path / "volume", document)
    sidecar = start_sidecar(document, config_path=path)
    client = redis.Redis(port=sidecar.resp_port)
    assert client.set("k" * 20, "v")
    swap_configmap(
        tmp_path / "volume", {**document, "server": {**document["server"], "limits": {"maxKeyLength": 10}}}, "..v2"
    )
    assert wait_until(lambda: sidecar.agent.config.server.limits.max_key_length == 10)
    with pytest.raises(redis.ResponseError, match="longer than the limit of 10 bytes"):
        client.set("k" * 20, "v")


def test_invalid_new_config_keeps_old_and_counts_error(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    document = sidecar_document()
    path = configmap_volume(tmp_path / "volume", document)
    sidecar = start_sidecar(document, config_path=path)
    swap_configmap(tmp_path / "volume", {**document, "cache": {"l1Size": "64XB"}}, "..v2")
    errors = sidecar.agent.metrics.config_reload_errors
    assert wait_until(lambda: errors._value.get() == 1)
    assert sidecar.agent.config.cache.l1_size == 256 * 1024**2
    assert redis.Redis(port=sidecar.resp_port).ping()


def test_auth_token_rotation_applies_without_restart(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("first")
    document = sidecar_document({"server": {"authTokenFile": str(token)}})
    path = configmap_volume(tmp_path / "volume", document)
    sidecar = start_sidecar(document, config_path=path)
    token.write_text("second")
    swap_configmap(tmp_path / "volume", {**document, "shutdown": {"gracePeriod": "4s"}}, "..v2")
    assert wait_until(lambda: sidecar.agent.config.shutdown.grace_period == 4)
    assert redis.Redis(port=sidecar.resp_port, password="second").ping()
