"""Live reload of the mounted config file.

Kubernetes updates a ConfigMap volume by writing a new timestamped directory and atomically
swapping the ``..data`` symlink; the file's own path never changes and inotify on it sees
nothing useful. So the watcher polls: every ``interval`` seconds it resolves the path and
hashes the content, and only a changed hash triggers a parse. An invalid new file keeps the
old config in effect: the error is logged and reported to ``on_error`` (a metric).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from memories.errors import ConfigError
from memories.sidecar.config import SidecarConfig, load_config

logger = logging.getLogger(__name__)


class ConfigWatcher:
    """Polls ``path`` and calls ``apply(new_config)`` when its content changes to a valid config.

    ``interval`` is in seconds. ``on_error(error)`` is called for every rejected change.
    """

    def __init__(
        self,
        path: str | Path,
        apply: Callable[[SidecarConfig], Awaitable[None]],
        on_error: Callable[[ConfigError], None],
        *,
        interval: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self.interval = interval
        self._apply = apply
        self._on_error = on_error
        self._fingerprint = self._read_fingerprint()

    def _read_fingerprint(self) -> str | None:
        try:
            resolved = os.path.realpath(self.path)
            return hashlib.sha256(Path(resolved).read_bytes()).hexdigest()
        except OSError:
            return None  # mid-swap or removed: try again on the next poll

    async def check(self) -> bool:
        """Look once; True when a new config was applied."""
        fingerprint = self._read_fingerprint()
        if fingerprint is None or fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            await self._apply(load_config(self.path))
        except ConfigError as error:
            logger.error("config %s changed but is invalid; keeping the previous config: %s", self.path, error)
            self._on_error(error)
            return False
        logger.info("config %s reloaded", self.path)
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.check()
