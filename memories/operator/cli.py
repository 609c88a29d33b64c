"""The ``memories operator`` subcommand: runs the kopf operator cluster-wide."""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path
from typing import Any

from memories.operator.options import OperatorOptions, WebhookOptions


def register(subparsers: Any) -> None:
    """Add ``operator`` to the ``memories`` command."""
    parser = subparsers.add_parser("operator", help="run the Kubernetes operator (reconcilers + admission webhook)")
    parser.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", "memories-system"),
        help="the operator's own namespace (never injected)",
    )
    parser.add_argument("--image", default=os.environ.get("MEMORIES_SIDECAR_IMAGE"), help="the agent image to inject")
    parser.add_argument("--webhook-port", type=int, default=9443, help="port of the admission webhook (0: disabled)")
    parser.add_argument("--webhook-host", default="0.0.0.0", help="address the admission webhook listens on")
    parser.add_argument("--webhook-cert", type=Path, default=Path("/etc/memories/webhook/tls.crt"))
    parser.add_argument("--webhook-key", type=Path, default=Path("/etc/memories/webhook/tls.key"))
    parser.add_argument(
        "--webhook-cert-check-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how often to look for rotated certificate files (they are reloaded on change)",
    )
    parser.add_argument("--standalone", action="store_true", help="no peering: only for a single replica")
    parser.add_argument(
        "--priority", type=int, default=None, help="peering priority (default: random, so replicas never tie)"
    )
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="kopf liveness endpoint")
    parser.set_defaults(handler=_run)


def _run(arguments: argparse.Namespace) -> int:
    import kopf

    import memories.operator.handlers  # noqa: F401  (registers the handlers)

    webhook = None
    if arguments.webhook_port:
        webhook = WebhookOptions(
            host=arguments.webhook_host,
            port=arguments.webhook_port,
            cert_file=arguments.webhook_cert,
            key_file=arguments.webhook_key,
            certificate_check_seconds=arguments.webhook_cert_check_interval,
        )
    priority = arguments.priority if arguments.priority is not None else random.SystemRandom().randint(1, 10**9)
    options = OperatorOptions(
        operator_namespace=arguments.namespace,
        webhook=webhook,
        peering_name=None if arguments.standalone else "memories-operator",
        priority=priority,
        **({"image": arguments.image} if arguments.image else {}),
    )
    kopf.run(
        clusterwide=True,
        standalone=arguments.standalone,
        priority=priority,
        peering_name=options.peering_name,
        liveness_endpoint=arguments.liveness,
        memo=kopf.Memo(options=options),
    )
    return 0
