"""The operator's settings, from the command line, handed to kopf handlers through the memo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memories.operator import constants


@dataclass(frozen=True)
class WebhookOptions:
    """Where the admission webhook listens and which certificate files it serves (reloaded on change)."""

    host: str
    port: int
    cert_file: Path
    key_file: Path
    public_host: str | None = None
    #: Seconds between checks of the certificate files; a change restarts the listener with the new pair.
    certificate_check_seconds: float = 30.0


@dataclass(frozen=True)
class OperatorOptions:
    """Everything ``memories operator`` was told on its command line."""

    operator_namespace: str = "memories-system"
    image: str = constants.DEFAULT_IMAGE
    webhook: WebhookOptions | None = None
    #: Kopf peering: replicas with distinct priorities; only the highest one reconciles.
    peering_name: str | None = "memories-operator"
    priority: int = 0
    #: Watch requests end after this many seconds so a silently frozen watch is re-established.
    watch_server_timeout_seconds: int = 300
