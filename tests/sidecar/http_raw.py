"""HTTP/1.1 over a raw socket, for tests that act as a hostile or broken client would."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def connect(url: str, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to the ``http://host:port`` of ``url``."""
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    """The request line and headers, ending with the blank line."""
    lines = [f"{method} {path} HTTP/1.1", "Host: memories", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, lower-cased headers, body of Content-Length bytes); raises TimeoutError."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a complete response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        body += chunk
    return int(status_line.split()[1]), headers, body


def send_until_refused(sock: socket.socket, total: int, seconds: float) -> int:
    """Send up to ``total`` more body bytes for at most ``seconds``; return how many the peer took before it closed
    the connection (or the time ran out)."""
    sock.settimeout(0.5)
    block = b"x" * (1 << 20)
    sent = 0
    deadline = time.monotonic() + seconds
    while sent < total and time.monotonic() < deadline:
        try:
            sent += sock.send(block)
        except TimeoutError:
            continue
        except OSError:  # EPIPE or ECONNRESET: the agent closed the connection
            break
    return sent


def resident_bytes() -> int:
    """This process's resident set size, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")
