"""Real Redis deployments on loopback for tests: one server (optionally with TLS, ACL users, persistence), a
3-master Redis Cluster, and a master + replica watched by three Sentinels — all Debian's redis-server.

Every server runs in a directory of the test's own and is stopped (SIGKILL if it must) when the owning
context ends. Servers can be paused (SIGSTOP: a Redis that accepts and never answers), killed and restarted on
the same port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from memories.controlplane.certificates import CertificateAuthority, write_pem
from memories.local_processes import free_port, stop_process

REDIS_SERVER = shutil.which("redis-server") or "redis-server"
REDIS_CLI = shutil.which("redis-cli") or "redis-cli"


def wait_until(condition: object, timeout_seconds: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition()`` until true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():  # type: ignore[operator]
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached within {timeout_seconds}s")


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no port with a free cluster bus port")


@dataclass
class TlsFiles:
    """A test CA and a server certificate for 127.0.0.1 / localhost, as files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> TlsFiles:
        authority = CertificateAuthority("memories-test-redis-ca")
        pair = authority.issue("redis", dns_names=("localhost",), ip_addresses=("127.0.0.1",), client=True)
        return cls(
            write_pem(directory / "ca.crt", authority.certificate_pem),
            write_pem(directory / "redis.crt", pair.certificate_pem),
            write_pem(directory / "redis.key", pair.private_key_pem, private=True),
        )


@dataclass
class RedisServer:
    """One redis-server. ``extra`` are more command-line options; ``tls`` serves TLS only (no plain port)."""

    directory: Path
    port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    tls: TlsFiles | None = None
    process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        base = [REDIS_SERVER, "--bind", "127.0.0.1", "--dir", str(self.directory), "--save", ""]
        base += ["--logfile", str(self.directory / "redis.log")]
        if self.tls is not None:
            base += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert_file)]
            base += ["--tls-key-file", str(self.tls.key_file), "--tls-ca-cert-file", str(self.tls.ca_file)]
            base += ["--tls-auth-clients", "no"]
        else:
            base += ["--port", str(self.port)]
        return base + self.extra

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited ({self.process.returncode}): {log}")
        return bool(self.client(socket_timeout=0.5).ping())

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def client(self, **options: object) -> redis.Redis:
        """A redis-py client of this server (as an administrator)."""
        if self.tls is not None:
            options.update(ssl=True, ssl_ca_certs=str(self.tls.ca_file))
        options.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, **options)  # type: ignore[arg-type]

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        """Stop (SIGTERM: a clean shutdown, persisting if configured) and start again on the same port."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            stop_process(self.process, 10)
            self.process = None


@contextlib.contextmanager
def redis_server(directory: Path, *, extra: list[str] | None = None, tls: bool = False) -> Iterator[RedisServer]:
    """A private redis-server for one test (``tls``: a test CA, TLS only)."""
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory, extra=list(extra or []), tls=TlsFiles.create(directory) if tls else None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class RedisCluster:
    """A Redis Cluster of ``masters`` nodes without replicas, created with ``redis-cli --cluster create``."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        """A URL naming every node as a seed."""
        return "redis://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def cli(self, *arguments: str) -> str:
        result = subprocess.run([REDIS_CLI, *arguments], capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(arguments)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def wait_ok(self) -> None:
        def every_node_agrees() -> bool:
            infos = [node.client().execute_command("CLUSTER", "INFO") for node in self.nodes]
            return all(b"cluster_state:ok" in info for info in infos)

        wait_until(every_node_agrees, 30, "cluster_state:ok on every node")

    def owner_of(self, key: bytes) -> RedisServer:
        """The node that serves ``key``'s slot now."""
        slot = self.nodes[0].client().execute_command("CLUSTER", "KEYSLOT", key)
        for node in self.nodes:
            for start, end, *_rest in node.client().execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == _rest[0][1])
        raise LookupError(f"no node serves slot {slot}")

    def migrate_slot(self, slot: int, source: RedisServer, target: RedisServer) -> None:
        """Move ``slot`` and its keys from ``source`` to ``target`` as ``redis-cli --cluster reshard`` does."""
        source_id = source.client().execute_command("CLUSTER", "MYID").decode()
        target_id = target.client().execute_command("CLUSTER", "MYID").decode()
        target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while keys := source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
        for node in self.nodes:
            node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


@contextlib.contextmanager
def redis_cluster(directory: Path, masters: int = 3) -> Iterator[RedisCluster]:
    """A fresh cluster of ``masters`` nodes on loopback."""
    nodes = [
        RedisServer(
            directory / f"node-{index}",
            port=free_cluster_port(),
            extra=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
        )
        for index in range(masters)
    ]
    try:
        for node in nodes:
            node.start()
        cluster = RedisCluster(nodes)
        cluster.cli("--cluster", "create", *(f"127.0.0.1:{node.port}" for node in nodes), "--cluster-yes")
        cluster.wait_ok()
        yield cluster
    finally:
        for node in nodes:
            node.stop()


@dataclass
class SentinelGroup:
    """A master, one replica and three sentinels monitoring them as ``mymaster``."""

    master: RedisServer
    replica: RedisServer
    sentinels: list[RedisServer]
    name: str = "mymaster"

    @property
    def url(self) -> str:
        """A URL naming the sentinels."""
        return "redis://" + ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)

    def current_master_port(self) -> int:
        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError):
                address = sentinel.client().sentinel_get_master_addr_by_name(self.name)
                assert isinstance(address, tuple), address  # (host, port)
                return int(address[1])
        raise LookupError("no sentinel answered")

    def failover(self) -> None:
        """A failover with ``SENTINEL FAILOVER``: the replica is promoted once it has caught up; returns once the
        old master has been turned into a replica of the new one. Until then the old master still accepts writes
        (an agent that has not yet heard ``+switch-master`` may write there), and what it accepted is lost when it
        resyncs — Redis' own guarantee, described in docs/consistency.md."""
        before = self.current_master_port()
        old_master = next(server for server in (self.master, self.replica) if server.port == before)
        self.sentinels[0].client().sentinel_failover(self.name)
        wait_until(lambda: self.current_master_port() != before, 30, "the sentinels to switch the master")
        wait_until(
            lambda: old_master.client().info("replication").get("master_link_status") == "up",
            60,
            "the old master to become a replica of the new one",
        )


@contextlib.contextmanager
def sentinel_group(directory: Path) -> Iterator[SentinelGroup]:
    fast_sync = ["--repl-diskless-sync-delay", "0"]  # no 5 s wait before the first full sync
    master = RedisServer(directory / "master", extra=fast_sync).start()
    replica = RedisServer(directory / "replica", extra=[*fast_sync, "--replicaof", "127.0.0.1", str(master.port)])
    servers = [master, replica]
    try:
        replica.start()
        wait_until(
            lambda: replica.client().info("replication").get("master_link_status") == "up",
            30,
            "the replica to sync",
        )
        sentinels = []
        for index in range(3):
            sentinel_directory = directory / f"sentinel-{index}"
            sentinel_directory.mkdir(parents=True)
            config = sentinel_directory / "sentinel.conf"
            config.write_text(
                f"sentinel monitor mymaster 127.0.0.1 {master.port} 2\n"
                "sentinel down-after-milliseconds mymaster 1000\n"
                "sentinel failover-timeout mymaster 5000\n"
                "sentinel resolve-hostnames no\n"
            )
            sentinel = RedisServer(sentinel_directory, extra=[])
            sentinel.command = _sentinel_command(sentinel, config)  # type: ignore[method-assign]
            sentinels.append(sentinel.start())
            servers.append(sentinel)
        group = SentinelGroup(master, replica, sentinels)
        wait_until(
            lambda: all(_other_sentinels(sentinel) == 2 for sentinel in sentinels),
            30,
            "the sentinels to discover each other",
        )
        yield group
    finally:
        for server in servers:
            server.stop()


def _other_sentinels(sentinel: RedisServer) -> int:
    """How many other sentinels this one knows monitor ``mymaster``."""
    state = sentinel.client().sentinel_master("mymaster")
    assert isinstance(state, dict), state
    return int(state["num-other-sentinels"])


def _sentinel_command(sentinel: RedisServer, config: Path) -> Callable[[], list[str]]:
    def command() -> list[str]:
        return [
            REDIS_SERVER,
            str(config),
            "--sentinel",
            "--port",
            str(sentinel.port),
            "--bind",
            "127.0.0.1",
            "--logfile",
            str(sentinel.directory / "redis.log"),
        ]

    return command


class CuttingProxy:
    """A TCP proxy in front of a real server, in its own thread: once :meth:`cut_next_reply` is armed, the next
    chunk the server sends is forwarded only in part and the client's connection is closed (a reply cut off
    mid-way, as a crash or a network fault leaves it). ``latency_seconds`` delays each chunk the client sends (a
    server farther away: a request waits once, however many commands its chunk holds); ``trickle`` (bytes, seconds)
    forwards what the server sends that many bytes at a time, that long apart (a reply arriving slowly but steadily)."""

    def __init__(
        self, target_port: int, *, latency_seconds: float = 0.0, trickle: tuple[int, float] | None = None
    ) -> None:
        import asyncio

        self.port = free_port()
        self._latency_seconds = latency_seconds
        self._trickle = trickle
        self._target_port = target_port
        self._cut = threading.Event()
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)

    async def _serve(self) -> None:
        import asyncio

        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, client_reader: Any, client_writer: Any) -> None:
        import asyncio

        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._target_port)

        async def upstream() -> None:
            while data := await client_reader.read(65536):
                if self._latency_seconds:
                    await asyncio.sleep(self._latency_seconds)
                server_writer.write(data)
                await server_writer.drain()
            server_writer.close()

        async def downstream() -> None:
            while data := await server_reader.read(65536):
                if self._cut.is_set() and len(data) > 8:
                    self._cut.clear()
                    self.cuts += 1
                    client_writer.write(data[: len(data) // 2])
                    await client_writer.drain()
                    client_writer.transport.abort()
                    server_writer.close()
                    return
                if self._trickle is not None:
                    step, pause = self._trickle
                    for start in range(0, len(data), step):
                        client_writer.write(data[start : start + step])
                        await client_writer.drain()
                        await asyncio.sleep(pause)
                    continue
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        with contextlib.suppress(Exception):
            await asyncio.gather(upstream(), downstream())

    def cut_next_reply(self) -> None:
        self._cut.set()

    def close(self) -> None:
        import asyncio

        async def shut_down() -> None:
            self._server.close()
            relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut_down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
