"""Read-your-writes on one agent over real sockets: concurrent redis-py clients, values moving between L1 and L2.

Each client writes and reads its own keys with values of 8 KB–400 KB into an L1 of 1 MB, so values are evicted
to L2 (and promoted back) all the time while the other clients do the same. A read must never return a version
older than the client's own last acknowledged SET, and a deleted key must stay deleted.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.sidecar.conftest import RunningSidecar, sidecar_document

CLIENTS = 6
KEYS_PER_CLIENT = 5
SECONDS = 6.0


def _versioned(client_index: int, key: int, version: int, size: int) -> bytes:
    head = f"{client_index}:{key}:{version}:".encode()
    return head + b"x" * (size - len(head))


def _version_of(value: bytes | str) -> int:
    assert isinstance(value, bytes), value  # the client does not decode responses
    return int(value.split(b":", 3)[2])


def _run_client(port: int, client_index: int, deadline: float, violations: list[str], seed: int) -> int:
    generator = random.Random(seed)
    connection = redis.Redis(port=port, socket_timeout=20)
    latest: dict[int, int | None] = {}  # key -> last acknowledged version (None: deleted)
    operations = 0
    while time.monotonic() < deadline:
        key = generator.randrange(KEYS_PER_CLIENT)
        name = f"client-{client_index}-key-{key}"
        action = generator.random()
        if action < 0.45:
            version = (latest.get(key) or 0) + 1
            connection.set(name, _versioned(client_index, key, version, generator.randrange(8_000, 400_000)))
            latest[key] = version
        elif action < 0.5:
            connection.delete(name)
            latest[key] = None
        else:
            value = connection.get(name)
            expected = latest.get(key)
            if value is None:
                if expected is not None:
                    violations.append(f"{name}: read nothing after version {expected} was acknowledged")
            elif expected is None or _version_of(value) != expected:
                violations.append(f"{name}: read version {_version_of(value)}, last acknowledged {expected}")
        operations += 1
    return operations


def test_no_client_reads_an_older_version_than_its_own_last_write(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    sidecar = start_sidecar(
        sidecar_document({"cache": {"l1Size": "1MB", "l2Size": "64MB", "l2Path": str(tmp_path / "l2")}})
    )
    violations: list[str] = []
    counts: list[int] = []
    deadline = time.monotonic() + SECONDS
    threads = [
        threading.Thread(
            target=lambda index=index: counts.append(
                _run_client(sidecar.resp_port, index, deadline, violations, seed=index)
            )
        )
        for index in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 60)
    assert len(counts) == CLIENTS, "a client thread failed"
    assert sum(counts) > 200, f"too few operations to mean anything: {counts}"
    stats = sidecar.agent.engine.cache.stats().tiers
    assert stats["l1"].evictions > 50, "values did not move to L2: the test does not exercise demotion"
    assert violations == [], f"{len(violations)} stale reads, first: {violations[:5]}"
