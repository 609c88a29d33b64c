"""twemproxy (Debian's ``nutcracker``) in front of a redis-server, as a peer for the agent's write-through rows.

A proxy makes the same two extra hops as the agent's write-through SET (client → proxy → Redis → proxy →
client) without caching anything, so its redis-benchmark rows tell what those hops cost on this machine.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from memories.local_processes import free_port


def nutcracker_path() -> str | None:
    """The ``nutcracker`` binary on PATH (or in /usr/sbin, where Debian installs it), or None."""
    return shutil.which("nutcracker") or shutil.which("nutcracker", path="/usr/sbin:/usr/local/sbin")


class Nutcracker:
    """A ``nutcracker`` process on a free loopback port with one pool: the redis-server at ``redis_port``."""

    def __init__(self, workdir: Path, redis_port: int, binary: str) -> None:
        self.port = free_port()
        stats_port = free_port()
        config = workdir / f"nutcracker-{self.port}.yml"
        config.write_text(
            "pool:\n"
            f"  listen: 127.0.0.1:{self.port}\n"
            "  redis: true\n"
            "  hash: fnv1a_64\n"
            "  distribution: ketama\n"
            "  preconnect: true\n"
            "  auto_eject_hosts: false\n"
            "  server_connections: 1\n"
            "  servers:\n"
            f"    - 127.0.0.1:{redis_port}:1\n"
        )
        self.process = subprocess.Popen(
            [binary, "-c", str(config), "-s", str(stats_port), "-a", "127.0.0.1", "-v", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"*2\r\n$3\r\nGET\r\n$5\r\nprobe\r\n")
                    if connection.recv(16):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"nutcracker did not answer on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
