"""The single memory mapping a MemoryPool carves into blocks.

Three backings:

* anonymous (default): private to this process, zero-filled, pages committed on first touch;
* ``shm_name="name"``: the file ``/dev/shm/name`` (POSIX shared memory on Linux), so another
  process or container sharing ``/dev/shm`` can ``mmap`` the same bytes;
* ``path=...``: any file on a filesystem that supports shared mappings.

A file is created (mode ``file_mode``) when missing and sized to the arena with ``ftruncate``;
an existing file is reused and its contents are left as they are. On close the mapping is
unmapped and the file unlinked when ``unlink_on_close`` (default: only if this arena created it).
"""

from __future__ import annotations

import logging
import mmap
import os
from pathlib import Path

from memories.errors import ConfigError

logger = logging.getLogger(__name__)

SHARED_MEMORY_DIRECTORY = Path("/dev/shm")


def shared_memory_path(shm_name: str) -> Path:
    """Return ``/dev/shm/<shm_name>``; raises ConfigError for names that are not a plain file name."""
    if not shm_name or "/" in shm_name or shm_name in {".", ".."} or "\0" in shm_name or len(shm_name) > 255:
        raise ConfigError(f"shm_name: must be a plain file name (no '/'), got {shm_name!r}")
    if not SHARED_MEMORY_DIRECTORY.is_dir():
        raise ConfigError(f"shm_name: {SHARED_MEMORY_DIRECTORY} does not exist on this system; pass path= instead")
    return SHARED_MEMORY_DIRECTORY / shm_name


class Arena:
    """A read-write mapping of ``size`` bytes; ``view`` is a memoryview of all of it.

    Raises ConfigError when both ``shm_name`` and ``path`` are given, and when the file cannot be opened or
    created (its directory is missing or is not a directory, or permission is denied: the message names the path);
    OSError when it cannot be sized or mapped.
    """

    def __init__(
        self,
        size: int,
        *,
        shm_name: str | None = None,
        path: str | os.PathLike[str] | None = None,
        unlink_on_close: bool | None = None,
        file_mode: int = 0o600,
    ) -> None:
        if shm_name is not None and path is not None:
            raise ConfigError("shm_name and path: give at most one of them")
        self.size = size
        self.path: Path | None = shared_memory_path(shm_name) if shm_name is not None else None
        if path is not None:
            self.path = Path(path)
        created = False
        if self.path is None:
            self._mapping = mmap.mmap(-1, size)
        else:
            field = "shm_name" if shm_name is not None else "path"
            self._mapping, created = _map_file(self.path, size, file_mode, field)
        self._unlink_on_close = created if unlink_on_close is None else unlink_on_close
        self.view = memoryview(self._mapping)
        self.closed = False

    def close(self) -> None:
        """Unmap (and unlink, if configured). Idempotent.

        Memoryviews derived from ``view`` must be released first; if some are still alive,
        the mapping stays until they are garbage-collected and a warning is logged.
        """
        if self.closed:
            return
        self.closed = True
        self.view.release()
        try:
            self._mapping.close()
        except BufferError:
            logger.warning("memory pool arena still has live views; it is unmapped when they are garbage-collected")
        if self.path is not None and self._unlink_on_close:
            try:
                self.path.unlink()
            except FileNotFoundError:
                logger.warning("memory pool arena file %s was already removed", self.path)


def _open_file(path: Path, file_mode: int, field: str) -> tuple[int, bool]:
    """Open ``path`` read-write, creating it when missing; returns the descriptor and whether it was created."""
    try:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, file_mode), True
        except FileExistsError:
            return os.open(path, os.O_RDWR), False
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as error:
        if isinstance(error, FileNotFoundError | NotADirectoryError) and not path.parent.is_dir():
            problem = f"its directory {path.parent} does not exist or is not a directory"
        else:
            problem = error.strerror or str(error)
        raise ConfigError(f"{field}: cannot open the memory pool's file {path}: {problem}") from error


def _map_file(path: Path, size: int, file_mode: int, field: str) -> tuple[mmap.mmap, bool]:
    descriptor, created = _open_file(path, file_mode, field)
    try:
        if os.fstat(descriptor).st_size != size:
            os.ftruncate(descriptor, size)
        return mmap.mmap(descriptor, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE), created
    except BaseException:
        if created:
            path.unlink(missing_ok=True)
        raise
    finally:
        os.close(descriptor)
