"""The ``memories sidecar`` subcommand (also ``python -m memories.sidecar``)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from memories.sidecar.config import load_config
from memories.units import parse_duration


def register(subparsers: Any) -> None:
    """Add ``sidecar`` to the ``memories`` command."""
    parser = subparsers.add_parser(
        "sidecar",
        help="run the sidecar agent (RESP, HTTP API, metrics) beside a workload",
        description="Serve the engine over the Redis protocol, an HTTP API and ops endpoints. "
        "Without --config: RESP 127.0.0.1:6380, HTTP 127.0.0.1:8750, ops 0.0.0.0:9750, L1 256 MiB.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sidecar's options (shared by ``memories sidecar`` and ``python -m memories.sidecar``)."""
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON config (see docs/sidecar-config.md)")
    parser.add_argument(
        "--reload-interval",
        default="2s",
        metavar="DURATION",
        help="how often to check the config file for changes (default 2s)",
    )


def run(arguments: argparse.Namespace) -> int:
    """Load the config and serve until SIGTERM; returns the exit code. Raises ConfigError for a bad config."""
    from memories.sidecar.agent import SidecarAgent

    config = load_config(arguments.config)
    interval = parse_duration(arguments.reload_interval, field="--reload-interval", allow_zero=False)

    async def serve() -> None:
        agent = SidecarAgent(config, config_path=arguments.config, reload_interval=interval)
        await agent.run()

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())
    return 0
