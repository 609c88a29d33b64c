"""The ``memories sidecar`` subcommand (also ``python -m memories.sidecar``)."""

from __future__ import annotations

import argparse
import asyncio
import gc
from typing import Any

from memories.sidecar.config import load_config
from memories.units import parse_duration

#: The agent's cyclic garbage collector: Python's thresholds for the young generations, but a full collection at
#: most once per 100 collections of the middle one instead of 10. First measured before the L1 entries lost their GC
#: header (``cache/_entry.c``), when a full collection walked every L1 entry (~150 ms with 100 000 of them here):
#: each write-through SET installs a new entry, and its in-flight state outlives a few young collections, so with
#: Python's 10 full collections came about every 25 000 SETs: about a quarter of the agent's CPU under pipelined
#: SETs, and most of their p99 (docs/benchmarks/coherence.md). A full collection now walks only the interpreter's
#: and the in-flight commands' objects (every L1 entry still with the pure-Python fallback), so this matters less,
#: but still measurably: re-measured on 2026-12-04 with the compiled entries (SET -P 16, 400 000 SETs), Python's
#: (700, 10, 10) ran 11 full collections of ~28 ms each, p99 36.7-36.9 ms against 8.8-10.7 ms with these (one
#: collection), 1.11x the throughput and 0.90x the CPU per SET. Cyclic garbage in the old generation waits longer: a
#: full collection runs at most once per ~770 000 net allocations (and, as before, only once the objects new to
#: the old generation are a quarter of it).
GC_THRESHOLDS = (700, 10, 100)


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
        gc.set_threshold(*GC_THRESHOLDS)
        agent = SidecarAgent(config, config_path=arguments.config, reload_interval=interval)
        await agent.run()

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())
    return 0
