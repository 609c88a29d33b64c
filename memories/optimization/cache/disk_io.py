"""The file operations of L2 (the disk tier), run off the event loop.

:class:`DiskTier <memories.optimization.cache.disk_tier.DiskTier>` hands every mutation — write an entry, unlink
entries, remove them all, the start-up scan — to one worker thread, so they reach the disk in the order they were
issued; reads run on other threads. Writes go to ``<root>/tmp/`` first and are moved into place with
``os.replace``: a crash leaves the old file, the new one, or a temp file that the next scan deletes. Files are not
fsynced: an entry torn by a power cut fails its checksum and is deleted, the right outcome for a cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from memories.errors import CorruptDataError
from memories.optimization.cache import disk_format

logger = logging.getLogger(__name__)


class LeftoverFile(OSError):
    """A write failed and the key's older file could not be removed: the directory holds a value the index does
    not (a restart would bring it back), so L2 must stop."""


def scan(root: Path, now: float) -> list[tuple[str, int, float | None]]:
    """Return (key, file size, expiry) of every valid entry under ``root``, oldest first.

    Creates ``root`` when missing; deletes temp files, malformed or truncated entries, misplaced files and expired
    entries. Raises OSError when the directory cannot be created or written.
    """
    shutil.rmtree(root / "tmp", ignore_errors=True)
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    probe = root / "tmp" / "write-probe"
    probe.write_bytes(b"")  # fail now, with the path in the error, rather than at the first demotion
    probe.unlink()
    found: list[tuple[float, str, int, float | None]] = []
    for path in root.glob(f"??/??/*{disk_format.SUFFIX}"):
        try:
            with path.open("rb") as file:
                head = file.read(disk_format.HEADER.size + disk_format.MAXIMUM_KEY_BYTES)
                status = os.fstat(file.fileno())
            header = disk_format.decode_header(head, location=str(path))
            if status.st_size != header.file_size:
                raise CorruptDataError(f"size {status.st_size} bytes, header implies {header.file_size}")
            if disk_format.entry_path(root, header.key) != path:
                raise CorruptDataError("file name does not match the key it holds")
        except (CorruptDataError, OSError) as error:
            logger.warning("l2: deleting unusable entry %s: %s", path, error)
            path.unlink(missing_ok=True)
            continue
        if header.expires_at is not None and header.expires_at <= now:
            path.unlink(missing_ok=True)
            continue
        found.append((status.st_mtime, header.key, header.file_size, header.expires_at))
    found.sort(key=lambda item: item[0])
    return [(key, size, expires_at) for _mtime, key, size, expires_at in found]


def write_entry(root: Path, key: str, contents: bytes) -> None:
    """Put ``contents`` at ``key``'s path atomically. On failure the key's old file is removed too, so that a
    restart cannot bring back a value older than the one that failed to land; OSError is raised either way."""
    target = disk_format.entry_path(root, key)
    temporary = root / "tmp" / f"{uuid.uuid4().hex}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            temporary.write_bytes(contents)
        except FileNotFoundError:  # the tmp directory was removed under us: make it again, once
            temporary.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(contents)
        os.replace(temporary, target)
    except OSError as failure:
        with contextlib.suppress(OSError):  # a temp file left behind is deleted by the next scan
            temporary.unlink(missing_ok=True)
        try:
            target.unlink(missing_ok=True)
        except OSError as error:
            raise LeftoverFile(
                error.errno, f"cannot remove {target} after a failed write ({failure}): {error}"
            ) from failure
        raise


def unlink_entries(root: Path, keys: list[str]) -> None:
    """Delete the files of ``keys`` (absent ones are fine); raises OSError when a file cannot be removed."""
    for key in keys:
        disk_format.entry_path(root, key).unlink(missing_ok=True)


def remove_all_entries(root: Path) -> None:
    """Delete every entry file under ``root``."""
    for path in root.glob(f"??/??/*{disk_format.SUFFIX}"):
        path.unlink(missing_ok=True)


def read_entry(root: Path, key: str) -> bytes | None:
    """Return the raw contents of ``key``'s file, or None when there is none."""
    try:
        return disk_format.entry_path(root, key).read_bytes()
    except FileNotFoundError:
        return None
