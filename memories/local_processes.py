"""Helpers for the child processes and loopback ports of local runs (tests, ``memories dev``, benchmarks)."""

from __future__ import annotations

import random
import socket
import subprocess
import threading
from pathlib import Path

EPHEMERAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_CHOSEN_PORT = 10000
#: How many of the ports :func:`free_port` handed out last it never hands out again: a caller that asks for
#: several ports before it binds any (an agent's RESP, HTTP and ops ports) must get different ones.
RECENTLY_CHOSEN_LIMIT = 4096
_recently_chosen: dict[int, None] = {}  # an ordered set, oldest first
_choosing = threading.Lock()


def ephemeral_port_floor() -> int:
    """The lowest port the kernel gives to outgoing connections and to ``bind(0)`` (32768 when it cannot be read)."""
    try:
        return int(EPHEMERAL_PORT_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, chosen below the kernel's ephemeral range, and none of
    the last ``RECENTLY_CHOSEN_LIMIT`` this process was given.

    A port from ``bind(0)`` lies inside that range, so between this call and the caller's own bind the kernel may
    give it to any outgoing connection (an agent's client to its L3 took one in CI: "address already in use").
    Ports below the range are only ever taken by listeners, so a random one that binds now stays free, unless the
    same draw came up for an earlier call whose caller has not bound it yet (CI: an agent's HTTP port was its RESP
    port) — which the recently chosen ports rule out."""
    with _choosing:
        port = _unused_port()
        _recently_chosen[port] = None
        if len(_recently_chosen) > RECENTLY_CHOSEN_LIMIT:
            del _recently_chosen[next(iter(_recently_chosen))]
        return port


def _unused_port() -> int:
    floor = ephemeral_port_floor()
    tries = 200 if floor > LOWEST_CHOSEN_PORT + 1000 else 0
    for port in (random.randrange(LOWEST_CHOSEN_PORT, floor) for _ in range(tries)):
        if port in _recently_chosen:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout_seconds: float) -> None:
    """SIGTERM, wait up to ``timeout_seconds``, then SIGKILL and reap; a process already gone is fine."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_seconds)
