"""``memories agent-check``: run from an application container, check the agent beside it from the app's side.

The agent is injected next to the app; the app reaches it through ``MEMORIES_REDIS_URL`` (RESP, default
``redis://127.0.0.1:6380/0``) and ``MEMORIES_HTTP_URL`` (HTTP, default ``http://127.0.0.1:8750``), both set by the
webhook. One line of JSON per result goes to stdout, so ``kubectl logs`` shows what the app saw:

- ``first-contact``: whether both ports answered at the very first attempt (a native sidecar is ready before the
  app container starts, so no retry should be needed);
- ``resp``, ``http``, ``cross``: byte-exact round trips over each protocol and from one to the other;
- ``arena`` (``--arena``): a block allocated over HTTP, written by this process through its own mapping of the
  shared arena file, read back by the agent (``GET /v1/pool/blocks/{id}``);
- ``fill`` (``--fill SIZE``): that many bytes of values written (more than L1 holds, so L2 takes the rest), then the
  oldest ones read back byte-exact;
- with ``--watch``: then a PING every ``--interval`` until SIGTERM, one ``outage`` line per stretch without an
  answer (its length in seconds), and a ``summary`` line at exit.

Exit status 0 when every check passed (``--watch`` then runs on), 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import random
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

DEFAULT_REDIS_URL = "redis://127.0.0.1:6380/0"
DEFAULT_HTTP_URL = "http://127.0.0.1:8750"
#: Size of each value written by ``--fill`` (bytes).
FILL_VALUE_BYTES = 256 * 1024


def register(subparsers: Any) -> None:
    """Add ``agent-check`` to the ``memories`` command."""
    parser = subparsers.add_parser(
        "agent-check",
        help="from an app container, check the agent beside it (RESP, HTTP, arena, L2) and watch its availability",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--arena", action="store_true", help="also check the shared-memory arena")
    parser.add_argument("--fill", default="0", help="write this many bytes (e.g. 32Mi) and read the oldest back")
    parser.add_argument("--watch", action="store_true", help="then PING until SIGTERM, reporting outages")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between PINGs with --watch")
    parser.set_defaults(handler=_run)


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    print(json.dumps({"event": event, "time": time.time(), **fields}, sort_keys=True), flush=True)


class _Http:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        # Loopback only: a proxy configured in the environment must never see these requests.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/octet-stream")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), bytes(error.read())


def _first_contact(client: Any, http: _Http) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    try:
        outcome["resp"] = bool(client.ping())
    except Exception as error:  # any failure to answer is the finding
        outcome["resp"], outcome["resp_error"] = False, str(error)
    try:
        outcome["http"] = http.request("GET", "/v1/cache/agent-check-absent")[0] == 404
    except OSError as error:
        outcome["http"], outcome["http_error"] = False, str(error)
    return outcome


def _round_trips(client: Any, http: _Http) -> dict[str, bool]:
    resp_value, http_value = os.urandom(64 * 1024), os.urandom(64 * 1024)
    client.set("agent-check:resp", resp_value)
    status, _ = http.request("PUT", "/v1/cache/agent-check:http", http_value)
    return {
        "resp": client.get("agent-check:resp") == resp_value,
        "http": status in (200, 201, 204) and http.request("GET", "/v1/cache/agent-check:http") == (200, http_value),
        "cross": http.request("GET", "/v1/cache/agent-check:resp") == (200, resp_value)
        and client.get("agent-check:http") == http_value,
    }


def _arena(http: _Http) -> dict[str, Any]:
    status, body = http.request("POST", "/v1/pool/blocks", json.dumps({"size": 65536}).encode())
    if status != 201:
        return {"ok": False, "error": f"allocate: {status} {body[:200]!r}"}
    block = json.loads(body)
    payload = os.urandom(block["size"])
    with open(block["path"], "r+b") as arena, mmap.mmap(arena.fileno(), 0) as mapping:
        mapping[block["offset"] : block["offset"] + len(payload)] = payload  # the app's own mapping
    status, seen = http.request("GET", f"/v1/pool/blocks/{block['id']}")
    http.request("DELETE", f"/v1/pool/blocks/{block['id']}")
    return {
        "ok": status == 200 and seen == payload,
        "path": block["path"],
        "sha256": hashlib.sha256(payload).hexdigest(),
        "agent_sha256": hashlib.sha256(seen).hexdigest() if status == 200 else None,
    }


def fill_value(index: int) -> bytes:
    """The value ``--fill`` writes under ``agent-check:fill:<index>``: incompressible (so L2 holds its real size)
    and reproducible (so a later check knows what to expect)."""
    return random.Random(index).randbytes(FILL_VALUE_BYTES)


def _fill(client: Any, total_bytes: int) -> dict[str, Any]:
    count = max(1, total_bytes // FILL_VALUE_BYTES)
    values = {}
    for index in range(count):
        value = fill_value(index)
        client.set(f"agent-check:fill:{index}", value)
        values[index] = value
    oldest = list(range(min(8, count)))
    return {
        "ok": all(client.get(f"agent-check:fill:{index}") == values[index] for index in oldest),
        "keys": count,
        "bytes": count * FILL_VALUE_BYTES,
    }


def _watch(ping: Callable[[], bool], interval: float, stopping: Callable[[], bool]) -> None:
    pings = failures = 0
    outage_started: float | None = None
    longest = 0.0
    while not stopping():
        ok = ping()
        now = time.monotonic()
        pings += 1
        if not ok:
            failures += 1
            if outage_started is None:
                outage_started = now
        elif outage_started is not None:
            seconds = now - outage_started
            longest = max(longest, seconds)
            emit("outage", seconds=round(seconds, 4), failed_pings=failures)
            outage_started, failures = None, 0
        time.sleep(interval)
    emit("summary", pings=pings, longest_outage=round(longest, 4), in_outage=outage_started is not None)


def _run(arguments: argparse.Namespace) -> int:
    import redis

    from memories.units import parse_size

    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    redis_url = os.environ.get("MEMORIES_REDIS_URL", DEFAULT_REDIS_URL)
    http = _Http(os.environ.get("MEMORIES_HTTP_URL", DEFAULT_HTTP_URL))
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    contact = _first_contact(client, http)
    emit("first-contact", **contact)
    results = {"first-contact": contact["resp"] and contact["http"]}
    if results["first-contact"]:
        trips = _round_trips(client, http)
        emit("round-trips", **trips)
        results.update(trips)
        if arguments.arena:
            arena = _arena(http)
            emit("arena", **arena)
            results["arena"] = arena["ok"]
        fill_bytes = parse_size(arguments.fill, field="--fill")
        if fill_bytes:
            filled = _fill(client, fill_bytes)
            emit("fill", **filled)
            results["fill"] = filled["ok"]
    passed = all(results.values())
    emit("checks", passed=passed, **{name: bool(value) for name, value in results.items()})
    if arguments.watch:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside the client: each PING is one attempt, so an outage is measured, not hidden.
        watcher = redis.Redis.from_url(
            redis_url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
        )

        def ping() -> bool:
            try:
                return bool(watcher.ping())
            except redis.RedisError:
                return False

        _watch(ping, arguments.interval, lambda: stop)
    return 0 if passed else 1
