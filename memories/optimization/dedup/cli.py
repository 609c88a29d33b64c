"""The ``memories dedup`` subcommands: manage an on-disk dedup store from the shell.

memories dedup add --store DIR FILE... [--block-size 4KB] [--chunking cdc] [--name NAME]
memories dedup restore --store DIR INPUT_ID --output FILE
memories dedup delete --store DIR INPUT_ID...
memories dedup list --store DIR
memories dedup stats --store DIR          (JSON)
memories dedup check --store DIR          (re-reads every block; exit status 1 when a problem is found)
memories dedup gc --store DIR             (reclaims the space of deleted inputs)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from memories.optimization.dedup.deduplicator import Deduplicator

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: Any) -> None:
    """Add ``dedup`` and its subcommands to the ``memories`` command."""
    parser = subparsers.add_parser("dedup", help="deduplicate files into an on-disk block store")
    commands = parser.add_subparsers(dest="dedup_command", metavar="ACTION", required=True)

    def add_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        command.add_argument("--store", required=True, type=Path, help="store directory (created if missing)")
        command.add_argument("--hash-algorithm", default="xxhash", help="xxhash (default), blake2b or sha256")
        return command

    add = add_command("add", "deduplicate files into the store; prints one input id per file")
    add.add_argument("files", nargs="+", type=Path)
    add.add_argument("--name", help="input id to register (only with one file); default: XXH3-128 of the content")
    add.add_argument("--block-size", default="4KB", help="block size, or average chunk size with --chunking cdc")
    add.add_argument("--chunking", default="fixed", choices=["fixed", "cdc"])
    add.add_argument("--verify", action="store_true", help="byte-compare blocks on every id match")
    add.set_defaults(handler=_run_with_store(_add))
    restore = add_command("restore", "write an input's exact bytes to a file")
    restore.add_argument("input_id")
    restore.add_argument("--output", required=True, type=Path)
    restore.set_defaults(handler=_run_with_store(_restore))
    delete = add_command("delete", "forget inputs and free the blocks only they used")
    delete.add_argument("input_ids", nargs="+")
    delete.set_defaults(handler=_run_with_store(_delete))
    add_command("list", "print the registered input ids").set_defaults(handler=_run_with_store(_list))
    add_command("stats", "print the store's metrics as JSON").set_defaults(handler=_run_with_store(_stats))
    add_command("check", "verify every block and recipe; exit 1 on a problem").set_defaults(
        handler=_run_with_store(_check)
    )
    add_command("gc", "free blocks no input uses and rewrite mostly-dead pack files").set_defaults(
        handler=_run_with_store(_collect_garbage)
    )


def _run_with_store(action: Callable[[Deduplicator, argparse.Namespace], Coroutine[Any, Any, None]]) -> Handler:
    """Wrap ``action`` into a handler that opens the store, runs it and closes the store.

    An unknown input id (KeyError) prints the reason and exits with 1.
    """

    def handler(arguments: argparse.Namespace) -> int:
        dedup = Deduplicator(
            getattr(arguments, "block_size", "4KB"),
            arguments.hash_algorithm,
            chunking=getattr(arguments, "chunking", "fixed"),
            verify=getattr(arguments, "verify", False),
            store_path=arguments.store,
        )
        try:
            asyncio.run(action(dedup, arguments))
        except KeyError as error:
            print(f"memories dedup {arguments.dedup_command}: {error.args[0]}", file=sys.stderr)
            return 1
        finally:
            dedup.close()
        return 0

    return handler


async def _add(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    if arguments.name is not None and len(arguments.files) != 1:
        raise SystemExit("memories dedup add: --name needs exactly one file")
    # One batch: one pack fsync and one index transaction per checkpoint, not per file; printed once registered.
    async with dedup.batch() as batch:
        recipes = await batch.ingest_files((path, arguments.name) for path in arguments.files)
    for path, recipe in zip(arguments.files, recipes, strict=True):
        print(f"{recipe.input_id}\t{path}\t{recipe.new_bytes} new bytes of {recipe.size}")


async def _restore(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    await dedup.restore_to(arguments.input_id, arguments.output)


async def _delete(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    for input_id in arguments.input_ids:
        await dedup.delete(input_id)


async def _list(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    for input_id in dedup.input_ids():
        print(input_id)


async def _stats(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    metrics = dedup.get_metrics()
    report = dataclasses.asdict(metrics) | {
        "dedup_ratio": metrics.dedup_ratio,
        "space_saved_gb": metrics.space_saved_gb,
    }
    print(json.dumps(report, indent=2))


async def _check(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    problems = await dedup.check()
    for problem in problems:
        print(problem)
    if problems:
        raise SystemExit(1)
    print("ok")


async def _collect_garbage(dedup: Deduplicator, arguments: argparse.Namespace) -> None:
    print(f"{await dedup.collect_garbage()} bytes reclaimed")
