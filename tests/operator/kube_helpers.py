"""Small helpers for tests that drive the real API server through kubectl."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from memories.controlplane import LocalControlPlane

T = TypeVar("T")


def apply(control_plane: LocalControlPlane, *manifests: dict[str, Any]) -> None:
    """kubectl apply the manifests, failing the test with kubectl's message if it refuses."""
    document = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    result = control_plane.kubectl("apply", "-f", "-", input_text=json.dumps(document))
    assert result.returncode == 0, result.stderr


def get(control_plane: LocalControlPlane, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    """The object as JSON, or None when it does not exist."""
    result = control_plane.kubectl("get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout_seconds: float = 30.0,
    what: str = "condition",
    describe: Callable[[], object] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after the timeout, showing ``describe()``."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; last seen: {describe()}" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout_seconds}s waiting for {what}{seen}")
        time.sleep(0.25)


def condition(body: dict[str, Any] | None, condition_type: str) -> dict[str, Any] | None:
    """The named status condition of an object, if present."""
    for item in ((body or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == condition_type:
            return dict(item)
    return None


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Namespace manifest."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def pod(name: str, namespace_name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    """A minimal Pod manifest (no scheduler runs here: it stays Pending, which is all the webhook needs)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace_name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}], **spec},
    }
