"""The ``memories dev`` subcommand: the README's first command."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``dev`` to the ``memories`` command."""
    parser = subparsers.add_parser(
        "dev",
        help="run the whole system locally: control plane, operator, a sidecar and the examples",
        description="Starts a local etcd + kube-apiserver (or uses --kubeconfig), installs the CRDs, runs the operator "
        "and a sidecar as local processes, applies the examples and shows a live status table. Ctrl-C stops "
        "everything and removes what it created.",
    )
    parser.add_argument("--kubeconfig", type=Path, help="use this existing cluster instead of a local control plane")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes of the table")
    parser.add_argument("--once", action="store_true", help="print the table once everything is up, then stop")
    parser.add_argument(
        "--node",
        choices=("auto", "real", "kwok"),
        default="auto",
        help="real: containers run on a local containerd + kubelet (needs root and scripts/setup's packages); "
        "kwok: a fake node (pods never run); auto (default): real when this machine allows it, else kwok",
    )
    parser.set_defaults(handler=_run)


def _run(arguments: argparse.Namespace) -> int:
    from memories.dev.status import hit_rates, policy_rows, render_table, scrape
    from memories.dev.system import running_system

    if arguments.interval <= 0:
        raise SystemExit("memories dev: --interval must be positive")
    # SIGTERM (a service manager, `kill`) stops the system as cleanly as Ctrl-C does. SIGINT is set too: a
    # process started in the background by a shell without job control (`cmd &` in a script, CI) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler, so Ctrl-C or `kill -INT` did nothing.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with (
        tempfile.TemporaryDirectory(prefix="memories-dev-") as workdir,
        running_system(Path(workdir), arguments.kubeconfig, arguments.node) as system,
    ):
        interactive = sys.stdout.isatty() and not arguments.once
        print("memories dev is up; Ctrl-C stops everything.", file=sys.stderr, flush=True)
        while True:
            time.sleep(arguments.interval)
            metrics = scrape(f"http://127.0.0.1:{system.sidecar_ops_port}/metrics")
            table = render_table(policy_rows(system.policies()), hit_rates(metrics))
            print(("\033[2J\033[H" if interactive else "") + table, flush=True)
            if arguments.once:
                return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
