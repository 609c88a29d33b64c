"""The ``memories`` console script: one entry point, one subcommand per part.

Each part contributes its subcommands through a ``register(subparsers)`` function in its own
``cli`` module, so this file only knows which parts exist.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from memories import __version__
from memories.errors import MemoriesError

#: Every subcommand: the module whose ``register(subparsers)`` defines it, and its one-line help.
#: Only the module of the command being run is imported, so ``memories sidecar`` never pays for numpy or kopf.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("memories.dev.cli", "run the whole system locally: control plane, operator, a sidecar and the examples"),
    "operator": ("memories.operator.cli", "run the Kubernetes operator (reconcilers + admission webhook)"),
    "sidecar": ("memories.sidecar.cli", "run the sidecar agent (RESP, HTTP API, metrics) beside a workload"),
    "demo": ("memories.demo.cli", "run every engine part once on an embedded dataset"),
    "agent-check": ("memories.demo.agent_check", "from an app container, check the agent beside it and watch it"),
    "dedup": ("memories.optimization.dedup.cli", "deduplicate files into an on-disk block store"),
    "train-predictor": ("memories.optimization.predictive.cli", "train a prefetch model on an access trace"),
    "eval-predictor": ("memories.optimization.predictive.cli", "compare prefetch models on an access trace"),
}


def _requested_command(argv: Sequence[str]) -> str | None:
    return next((argument for argument in argv if argument in SUBCOMMANDS), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser; the full options of ``command`` (if known) are registered."""
    parser = argparse.ArgumentParser(
        prog="memories",
        description="memories optimizer: cache, pools, compression, dedup and prefetch beside your workloads.",
    )
    parser.add_argument("--version", action="version", version=f"memories {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in SUBCOMMANDS:
        importlib.import_module(SUBCOMMANDS[command][0]).register(subparsers)
    for name, (_, help_text) in SUBCOMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _requested_command(argv)
    try:
        return _run(argv, command)
    except ModuleNotFoundError as error:
        from memories.extras import missing_extra  # importlib.metadata: only paid for when something is missing

        installation = missing_extra(error, f"memories {command}")
        if installation is None:
            raise
        print(f"memories {command}: error: {installation}", file=sys.stderr)
        return 1


def _run(argv: list[str], command: str | None) -> int:
    parser = build_parser(command)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(arguments, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(arguments))
    except MemoriesError as error:
        print(f"memories {arguments.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
