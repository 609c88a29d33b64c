"""The ``memories demo`` subcommand."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``memories`` command."""
    parser = subparsers.add_parser("demo", help="run every engine part once on an embedded dataset")
    parser.add_argument("--records", type=int, default=200_000, help="log records to generate (about 60 bytes each)")
    parser.set_defaults(handler=_run)


def _run(arguments: argparse.Namespace) -> int:
    from memories.demo.tour import run_tour  # the engine loads only when the demo runs

    if arguments.records <= 0:
        raise SystemExit("memories demo: --records must be positive")

    def progress(part: str) -> None:
        print(f"... {part}", file=sys.stderr, flush=True)

    results = asyncio.run(run_tour(arguments.records, progress))
    width = max(len(result.part) for result in results)
    for result in results:
        print(f"{result.part:<{width}}  {result.seconds:6.2f}s  {result.outcome}")
    return 0
