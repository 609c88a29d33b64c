"""``python -m memories.sidecar [--config FILE]``: the sidecar without the rest of the CLI."""

from __future__ import annotations

import argparse
import logging
import sys

from memories.errors import MemoriesError
from memories.sidecar.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the sidecar; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m memories.sidecar", description="Run the sidecar agent.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add_arguments(parser)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(arguments)
    except MemoriesError as error:
        print(f"memories sidecar: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
