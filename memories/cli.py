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

#: Modules that add subcommands, in the order they appear in ``memories --help``.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "memories.demo.cli",
    "memories.operator.cli",
    "memories.optimization.dedup.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every part's subcommands registered."""
    parser = argparse.ArgumentParser(
        prog="memories",
        description="memories optimizer: cache, pools, compression, dedup and prefetch beside your workloads.",
    )
    parser.add_argument("--version", action="version", version=f"memories {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the process exit code."""
    parser = build_parser()
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
