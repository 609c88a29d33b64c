"""Slots of a shared L2 directory: one agent at a time in each, reopened warm by the next.

When the L2 directory is on a volume that outlives pods (a CachePolicy's ``tiers.l2Volume``: a
PersistentVolumeClaim or a node directory), several agents reach it: a workload's replicas at once, and the
pods that later replace them. Each agent takes the first slot (``slot-0``, ``slot-1``, ...) whose lock no running
agent holds and keeps the lock while it runs, so two agents never share a directory, and a pod that replaces
another finds the slot its predecessor left, files and all, and the disk tier reopens it warm. The lock is an
``flock`` on ``slot-N.lock`` beside the slot's directory (not inside it, where the disk tier owns every file); the
kernel drops it when the process ends, even by SIGKILL (on NFS, when the client's lease expires).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from memories.errors import ConfigError

logger = logging.getLogger(__name__)

#: Slots tried before giving up: more agents than this on one volume at once is a misconfiguration.
MAX_SLOTS = 1024


@dataclass
class L2Slot:
    """A locked slot: the disk tier's ``directory`` for as long as :meth:`release` is not called."""

    directory: Path
    lock_descriptor: int

    def release(self) -> None:
        """Give the slot up (the next agent may take it); safe to call twice."""
        if self.lock_descriptor >= 0:
            with contextlib.suppress(OSError):
                os.close(self.lock_descriptor)
            self.lock_descriptor = -1


def lease_slot(root: Path, *, max_slots: int = MAX_SLOTS) -> L2Slot:
    """Lock the first free slot under ``root`` (created if missing) and return it.

    Raises ConfigError naming ``root`` when it cannot be written (a persistent volume must be writable by the
    agent's user) or when every slot is held by a running agent.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        for number in range(max_slots):
            descriptor = os.open(root / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            directory = root / f"slot-{number}"
            directory.mkdir(exist_ok=True)
            logger.info("L2 in slot %s of the shared directory %s", number, root)
            return L2Slot(directory, descriptor)
    except OSError as error:
        raise ConfigError(
            f"cache.l2Path: cannot use {root} as a shared L2 directory as uid {os.getuid()}: {error.strerror or error}"
        ) from error
    raise ConfigError(f"cache.l2Path: all {max_slots} slots of {root} are held by running agents")
