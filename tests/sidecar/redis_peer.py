"""The agent and a real redis-server side by side: the same bytes to both, what each answered and whether it closed.

Both are started with the same auth token (or none), so their replies can be compared byte for byte.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.redis_servers import RedisServer
from tests.sidecar.conftest import RunningSidecar, sidecar_document

TOKEN = "s3cret"


@dataclass(frozen=True)
class Answer:
    """What a server sent back for a request, and whether it then closed the connection."""

    replies: bytes
    closed: bool


#: How long :func:`exchange` goes on waiting for the bytes it was told to expect, past quiet spells (seconds).
_EXPECTED_BYTES_SECONDS = 10.0


def exchange(port: int, payload: bytes, *, quiet_seconds: float = 0.2, expected_bytes: int = 0) -> Answer:
    """Send ``payload``; collect replies until the server closes or stays quiet for ``quiet_seconds``, but while
    fewer than ``expected_bytes`` arrived, quiet spells are waited through for up to 10 s (a loaded machine can
    stall a server longer than the quiet window; waiting cannot make wrong bytes right).

    The payload is sent from a second thread while this one reads: a server may answer and close before it has read
    all of a large payload (both the agent and redis-server refuse an unauthenticated large bulk at once), and a
    client that only read after sending would see the reset, not the reply. Quiet counts only once all is sent.
    """
    give_up_at = time.monotonic() + _EXPECTED_BYTES_SECONDS
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        sending = connection.dup()
        sender = threading.Thread(target=_send_until_refused, args=(sending, payload), daemon=True)
        sender.start()
        connection.settimeout(quiet_seconds)
        received = b""
        try:
            while True:
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    if sender.is_alive() or (len(received) < expected_bytes and time.monotonic() < give_up_at):
                        continue
                    return Answer(received, closed=False)
                if not chunk:
                    return Answer(received, closed=True)
                received += chunk
        except ConnectionResetError:
            return Answer(received, closed=True)
        finally:
            sender.join()
            sending.close()


def _send_until_refused(connection: socket.socket, payload: bytes) -> None:
    """Send all of ``payload``, stopping quietly when the server has closed the connection."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.sendall(payload)


@dataclass
class PasswordRedisServer(RedisServer):
    """A redis-server with ``--requirepass``, whose own clients authenticate."""

    password: str | None = None

    def client(self, **options: object) -> redis.Redis:
        if self.password is not None:
            options.setdefault("password", self.password)
        return super().client(**options)


@dataclass
class Peers:
    """An agent and a redis-server holding the same token (None: no auth)."""

    agent_port: int
    server: PasswordRedisServer

    def clients(self) -> tuple[redis.Redis, redis.Redis]:
        """RESP2 redis-py clients of the agent and of redis-server (authenticated when there is a token)."""
        password = self.server.password
        return (
            redis.Redis(port=self.agent_port, password=password, protocol=2, socket_timeout=10),
            redis.Redis(port=self.server.port, password=password, protocol=2, socket_timeout=10),
        )

    def both(self, payload: bytes, *, quiet_seconds: float = 0.2) -> tuple[Answer, Answer]:
        """``(agent's answer, redis-server's answer)`` to the same bytes, each on a new connection. redis-server
        answers first; the agent is then waited for until it sent as many bytes (see :func:`exchange`)."""
        server = exchange(self.server.port, payload, quiet_seconds=quiet_seconds)
        agent = exchange(self.agent_port, payload, quiet_seconds=quiet_seconds, expected_bytes=len(server.replies))
        return agent, server


def reply(client: redis.Redis, *arguments: bytes | str | int) -> object:
    """The server's reply to one command, an error reply as ``("error", message)``."""
    try:
        return client.execute_command(*arguments)
    except redis.ResponseError as error:
        return ("error", str(error))


@contextlib.contextmanager
def peers(
    start_sidecar: Callable[..., RunningSidecar], directory: Path, *, token: str | None = None
) -> Iterator[Peers]:
    """Start both; with ``token`` the agent reads it from a file and redis-server gets ``--requirepass``."""
    server: dict[str, object] = {}
    extra: list[str] = []
    if token is not None:
        token_file = directory / "token"
        token_file.write_text(token + "\n")
        server["authTokenFile"] = str(token_file)
        extra = ["--requirepass", token]
    agent = start_sidecar(sidecar_document({"server": server} if server else None))
    (directory / "redis").mkdir(parents=True, exist_ok=True)
    peer = PasswordRedisServer(directory / "redis", extra=extra, password=token)
    peer.start()
    try:
        yield Peers(agent.resp_port, peer)
    finally:
        peer.stop()
