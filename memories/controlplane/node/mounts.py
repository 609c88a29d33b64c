"""Mounts under a directory: list them, unmount them all, and only then remove the directory.

A node leaves many mounts under its root: the kubelet's self bind-mount and pod volumes (tmpfs for secrets and
projected tokens, memory-backed emptyDirs), containers' overlay root filesystems, sandboxes' ``/dev/shm`` and the
network namespaces' nsfs files. ``shutil.rmtree`` over a live bind mount would delete what it points at, so
:func:`remove_tree` refuses while anything is still mounted below the path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path

from memories.errors import ControlPlaneError

MNT_DETACH = 2
MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (``\\040``)."""
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, plain)
    return field


def mount_table() -> list[tuple[Path, str]]:
    """Every mount of this mount namespace as (mount point, filesystem type), in mountinfo order."""
    table = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split()
        table.append((Path(_unescape(fields[4])), fields[fields.index("-") + 1]))
    return table


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first (the order they can be unmounted in)."""
    prefix = str(root.resolve()).rstrip("/")
    found = [
        mount_point
        for mount_point, _ in mount_table()
        if str(mount_point) == prefix or str(mount_point).startswith(prefix + "/")
    ]
    return sorted(set(found), key=lambda path: (len(path.parts), str(path)), reverse=True)


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def unmount(path: Path) -> None:
    """Lazily unmount ``path`` (MNT_DETACH: busy mounts go as soon as nothing uses them); absent is fine."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point (any more)
            raise ControlPlaneError(f"cannot unmount {path}: {os.strerror(code)}")


def unmount_all_under(root: Path, *, rounds: int = 5) -> None:
    """Unmount everything at or below ``root``; stacked mounts take more than one round.

    Raises:
        ControlPlaneError: mounts are still there after ``rounds`` rounds.
    """
    for _ in range(rounds):
        remaining = mounts_under(root)
        if not remaining:
            return
        for mount_point in remaining:
            unmount(mount_point)
    remaining = mounts_under(root)
    if remaining:
        raise ControlPlaneError(f"still mounted under {root}: {', '.join(map(str, remaining[:5]))}")


def remove_tree(root: Path) -> None:
    """Unmount everything below ``root``, then delete it; a missing directory is fine.

    Raises:
        ControlPlaneError: something below ``root`` cannot be unmounted (nothing is deleted then).
    """
    if not root.exists():
        return
    unmount_all_under(root)
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        shutil.rmtree(root)  # a second pass reports what could not be removed
