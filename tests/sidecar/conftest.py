"""A real sidecar agent on free loopback ports, served from a background thread's event loop,
so synchronous clients (redis-py, redis-cli subprocesses) and async ones can all talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.local_processes import free_port
from memories.sidecar.agent import SidecarAgent
from memories.sidecar.config import parse_config
from tests.sidecar.agent_process import SidecarProcess


@dataclass
class RunningSidecar:
    """Addresses of one running agent and a way to run coroutines on its loop."""

    agent: SidecarAgent
    loop: asyncio.AbstractEventLoop
    resp_port: int
    http_url: str
    ops_url: str

    def call(self, coroutine: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the agent's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


def sidecar_document(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A config document on free loopback ports, with ``overrides`` merged per section."""
    document: dict[str, Any] = {
        "server": {
            "resp": {"host": "127.0.0.1", "port": free_port()},
            "http": {"host": "127.0.0.1", "port": free_port()},
            "ops": {"host": "127.0.0.1", "port": free_port()},
        },
        "shutdown": {"gracePeriod": "5s"},
    }
    for section, values in (overrides or {}).items():
        if isinstance(values, dict) and isinstance(document.get(section), dict):
            document[section] = {**document[section], **values}
        else:
            document[section] = values
    return document


@contextlib.contextmanager
def sidecar_factory() -> Iterator[Callable[..., RunningSidecar]]:
    """Factory: start an agent for a config document (see ``sidecar_document``); each is stopped on exit."""
    running: list[tuple[RunningSidecar, threading.Thread]] = []

    def start(document: dict[str, Any] | None = None, *, config_path: Path | None = None) -> RunningSidecar:
        document = document or sidecar_document()
        if config_path is not None:
            config_path.write_text(yaml.safe_dump(document))
        config = parse_config(document)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        holder: dict[str, Any] = {}

        def serve() -> None:
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                agent = SidecarAgent(config, config_path=config_path, reload_interval=0.1)
                holder["agent"] = agent
                try:
                    await agent.start()
                    await agent.engine.cache.start()
                except BaseException as error:
                    holder["error"] = error
                started.set()

            loop.run_until_complete(boot())
            loop.run_forever()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        assert started.wait(15), "sidecar did not start"
        if "error" in holder:
            raise holder["error"]
        agent: SidecarAgent = holder["agent"]
        assert agent.resp.tcp_address and agent.http_address and agent.ops_address
        sidecar = RunningSidecar(
            agent,
            loop,
            agent.resp.tcp_address[1],
            f"http://127.0.0.1:{agent.http_address[1]}",
            f"http://127.0.0.1:{agent.ops_address[1]}",
        )
        running.append((sidecar, thread))
        return sidecar

    yield start
    for sidecar, thread in running:
        sidecar.call(sidecar.agent.shutdown(), timeout=30)
        sidecar.loop.call_soon_threadsafe(sidecar.loop.stop)
        thread.join(10)


@pytest.fixture
def start_sidecar() -> Iterator[Callable[..., RunningSidecar]]:
    """Factory: start an agent for a config document (see ``sidecar_document``); stopped at teardown."""
    with sidecar_factory() as start:
        yield start


@pytest.fixture
def sidecar(start_sidecar: Callable[..., RunningSidecar]) -> RunningSidecar:
    """An agent with default settings on free ports."""
    return start_sidecar()


@pytest.fixture
def processes() -> Iterator[list[SidecarProcess]]:
    """Agent processes a test starts (append them); killed at teardown if still running."""
    started: list[SidecarProcess] = []
    yield started
    for sidecar in started:
        if sidecar.process.poll() is None:
            sidecar.process.kill()
            sidecar.process.wait()
