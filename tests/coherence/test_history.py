"""The history checker on real processes: three agents (``memories sidecar``) sharing one Redis, concurrent redis-py
clients doing random SET/GET/DEL/INCR (and pipelines of SETs) through all of them for 30 s while faults are injected — Redis killed and
restarted, every agent's Redis connection killed with CLIENT KILL, an agent killed and restarted, and (in the
Cluster run) hash slots migrated while serving. Every read must return the latest acknowledged value or one
overwritten within the published bound (maxStaleness); no increment may be lost.

For a longer (soak) run, ``MEMORIES_HISTORY_SECONDS`` sets how long the clients run and ``MEMORIES_HISTORY_SEED``
which operations they draw (each client's generator is seeded with ``seed * CLIENTS + its number``; 0, the default,
draws what the suite draws)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
import redis
import yaml
from redis.crc import key_slot

from memories.local_processes import free_port, stop_process
from tests.coherence.history import Operation, check
from tests.redis_servers import RedisCluster, redis_cluster, redis_server, wait_until


def _from_environment(name: str, default: int, *, minimum: int) -> int:
    """The integer in environment variable ``name`` (``default`` when unset); a clear error for anything else."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        raise pytest.UsageError(f"{name} must be an integer, got {text!r}") from None
    if number < minimum:
        raise pytest.UsageError(f"{name} must be at least {minimum}, got {number}")
    return number


SECONDS = float(_from_environment("MEMORIES_HISTORY_SECONDS", 30, minimum=10))  # the faults start after 2.5 s
SEED = _from_environment("MEMORIES_HISTORY_SEED", 0, minimum=0)

#: Starting the servers and agents and checking the history take up to a couple of minutes beside the clients' run.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(SECONDS + 240)]

BOUND = 1.0  # the agents' maxStaleness
AGENTS = 3
CLIENTS = 6
REGISTERS = [f"r{index}" for index in range(8)]
COUNTERS = ["c0", "c1"]


@dataclass
class Agent:
    """One ``memories sidecar`` process on fixed ports (so a restarted agent is found where the old one was)."""

    index: int
    directory: Path
    l3: dict[str, object]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.directory / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "cache": {"l1Size": "256KB", "l2Size": "16MB", "l2Path": str(self.directory / "l2"), "l3": self.l3},
                    "server": {
                        "resp": {"host": "127.0.0.1", "port": self.port},
                        "http": {"host": "127.0.0.1", "port": free_port()},
                        "ops": {"host": "127.0.0.1", "port": free_port()},
                    },
                    "shutdown": {"gracePeriod": "2s"},
                }
            )
        )
        log = (self.directory / "agent.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "memories.sidecar", "--config", str(config)], stdout=log, stderr=log
        )
        wait_until(lambda: redis.Redis(port=self.port, socket_timeout=1).ping(), 30, f"agent {self.index} to answer")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 10)


@contextlib.contextmanager
def agents(directory: Path, l3: dict[str, object]) -> Iterator[list[Agent]]:
    running = []
    try:
        for index in range(AGENTS):
            (directory / f"agent-{index}").mkdir(parents=True)
            agent = Agent(index, directory / f"agent-{index}", l3)
            agent.start()
            running.append(agent)
        yield running
    finally:
        for agent in running:
            agent.stop()


def run_clients(agents: list[Agent], seconds: float) -> list[Operation]:
    """CLIENTS threads, each doing random operations through random agents until ``seconds`` have passed."""
    history: list[Operation] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    sequence = itertools.count()

    def client(number: int) -> None:
        generator = random.Random(SEED * CLIENTS + number)
        connections = [redis.Redis(port=agent.port, socket_timeout=5, socket_connect_timeout=2) for agent in agents]
        while time.monotonic() < deadline:
            agent = generator.randrange(len(agents))
            connection = connections[agent]
            roll = generator.random()
            value: bytes | None = None
            if roll < 0.1:
                kind, key = "incr", generator.choice(COUNTERS)
            elif roll < 0.4:
                kind, key = "set", generator.choice(REGISTERS)
                value = new_value(number, sequence, generator, (8, 200, 3000, 60000))
            elif roll < 0.47:
                kind, key = "delete", generator.choice(REGISTERS)
            elif roll < 0.55:
                pipelined = pipelined_sets(connection, generator, number, sequence, agent)
                with lock:
                    history.extend(pipelined)
                if not all(operation.ok for operation in pipelined):
                    time.sleep(0.01)
                continue
            else:
                kind, key = "get", generator.choice(REGISTERS + COUNTERS)
            invoked = time.monotonic()
            try:
                result = perform(connection, kind, key, value)
                ok = True
            except (redis.RedisError, OSError):
                result, ok = None, False
            completed = time.monotonic()
            recorded = (
                value if kind == "set" else cast("bytes | int | None", result) if kind in ("get", "incr") else None
            )
            with lock:
                history.append(Operation(kind, key, invoked, completed, recorded, ok, number, agent))
            if not ok:
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return history


def new_value(number: int, sequence: Iterator[int], generator: random.Random, sizes: tuple[int, ...]) -> bytes:
    """A value no other write wrote (client ``number``, the next of ``sequence``), padded to one of ``sizes``."""
    return f"{number}:{next(sequence)}:".encode() + b"x" * generator.choice(sizes)


def pipelined_sets(
    connection: redis.Redis, generator: random.Random, number: int, sequence: Iterator[int], agent: int
) -> list[Operation]:
    """SETs of 2 to 6 distinct registers in one pipeline (the agent starts them as one batch: one L3 write, their
    replies together, per node in a Cluster); each is a SET invoked when the pipeline was sent and completed when
    its reply arrived."""
    keys = generator.sample(REGISTERS, generator.randint(2, 6))
    values = [new_value(number, sequence, generator, (8, 200, 3000)) for _ in keys]
    pipeline = connection.pipeline(transaction=False)
    for key, value in zip(keys, values, strict=True):
        pipeline.set(key, value)
    invoked = time.monotonic()
    try:
        replies: list[object] = pipeline.execute(raise_on_error=False)
    except (redis.RedisError, OSError):
        replies = [None] * len(keys)
    completed = time.monotonic()
    return [
        Operation("set", key, invoked, completed, value, reply is True, number, agent)
        for key, value, reply in zip(keys, values, replies, strict=True)
    ]


def perform(connection: redis.Redis, kind: str, key: str, value: bytes | None) -> object:
    """One operation through an agent; returns its reply."""
    if kind == "incr":
        return connection.incr(key)
    if kind == "set":
        return connection.set(key, value or b"")
    if kind == "delete":
        return connection.delete(key)
    return connection.get(key)


def inject_faults(faults: list[Callable[[], None]], seconds: float, log: list[str]) -> threading.Thread:
    """Run ``faults`` one after another, one every couple of seconds, in a thread."""

    def loop() -> None:
        deadline = time.monotonic() + seconds - 3
        for fault in itertools.cycle(faults):
            time.sleep(2.5)
            if time.monotonic() > deadline:
                return
            fault()
            log.append(fault.__name__)

    thread = threading.Thread(target=loop)
    thread.start()
    return thread


def assert_history_is_coherent(history: list[Operation], faults: list[str]) -> None:
    verdict = check(history, BOUND)
    failed = sum(not operation.ok for operation in history)
    print(
        f"seed {SEED}, {SECONDS:.0f} s: {len(history)} operations ({failed} failed during faults), "
        f"{verdict.reads_checked} reads checked, "
        f"{verdict.stale_reads_within_bound} within the bound (worst {verdict.worst_staleness_seconds * 1000:.1f} ms), "
        f"faults: {dict(collections.Counter(faults))}"
    )
    assert verdict.violations == [], f"{len(verdict.violations)} violations, first: {verdict.violations[:5]}"
    assert verdict.reads_checked > 2000, "too few reads to mean anything"
    assert len(faults) >= 6


def kill_agent_connections(admin: Callable[[], redis.Redis]) -> Callable[[], None]:
    def client_kill() -> None:
        with contextlib.suppress(redis.RedisError):
            admin().execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")

    return client_kill


def restart_an_agent(running: list[Agent]) -> Callable[[], None]:
    def agent_restart() -> None:
        agent = random.choice(running)
        agent.kill()
        agent.start()

    return agent_restart


def test_three_agents_on_one_redis_with_faults(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis", extra=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        l3: dict[str, object] = {
            "url": server.url,
            "keyPrefix": "history:",
            "maxStaleness": f"{BOUND}s",
            "timeout": "1s",
        }

        def redis_restart() -> None:
            server.kill()  # SIGKILL: acknowledged writes survive (appendfsync always)
            server.start()

        with agents(tmp_path, l3) as running:
            log: list[str] = []
            faults = [kill_agent_connections(server.client), redis_restart, restart_an_agent(running)]
            fault_thread = inject_faults(faults, SECONDS, log)
            history = run_clients(running, SECONDS)
            fault_thread.join()
    assert_history_is_coherent(history, log)


def test_three_agents_on_a_redis_cluster_with_faults(tmp_path: Path) -> None:
    with redis_cluster(tmp_path / "cluster") as cluster:
        l3: dict[str, object] = {
            "url": cluster.url,
            "mode": "cluster",
            "keyPrefix": "history:",
            "maxStaleness": f"{BOUND}s",
        }

        def slot_migration() -> None:
            name = f"history:{random.choice(REGISTERS + COUNTERS)}".encode()
            source = cluster.owner_of(name)
            target = random.choice([node for node in cluster.nodes if node.port != source.port])
            cluster.migrate_slot(key_slot(name), source, target)

        with agents(tmp_path, l3) as running:
            log: list[str] = []
            faults = [slot_migration, kill_agent_connections(random_node(cluster)), restart_an_agent(running)]
            fault_thread = inject_faults(faults, SECONDS, log)
            history = run_clients(running, SECONDS)
            fault_thread.join()
    assert_history_is_coherent(history, log)


def random_node(cluster: RedisCluster) -> Callable[[], redis.Redis]:
    return lambda: random.choice(cluster.nodes).client()
