"""Batches of ingests made durable together: one pack fsync and one index transaction per checkpoint.

A backup of many small files through ``Deduplicator.ingest`` pays a pack fsync and an SQLite transaction
(``synchronous=FULL``) per file: ~1 ms each, more than chunking and hashing a small file. Backup tools
checkpoint instead (restic writes packs and saves its index every few minutes, borg every 30 minutes).
An ``IngestBatch`` does the same: every ingest's new blocks are appended to the pack files at once, and
its recipe is registered, together with the blocks of all inputs since the last checkpoint, at the next
checkpoint (pack_store.py's ``flush``: packs fsynced first, then one transaction).

Crash safety is unchanged in kind: a checkpoint is atomic, so after ``kill -9`` the store holds exactly
the inputs of the checkpoints that completed (each restores byte-exact) and none of the others; their
appended blocks are cut from the packs when the store is reopened.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType

from memories.optimization.dedup.recipe import DedupRecipe
from memories.optimization.dedup.streams import ByteSource

# Pending bytes (new block bytes plus the sizes of the inputs ingested) after which a batch checkpoints.
DEFAULT_CHECKPOINT_BYTES = 256 * 1024**2

IngestFunction = Callable[[ByteSource, str | None, bool], Awaitable[DedupRecipe]]
FilesFunction = Callable[[Iterable[tuple[str | os.PathLike[str], str | None]], bool], Awaitable[list[DedupRecipe]]]


class IngestBatch:
    """Ingests into one Deduplicator registered at checkpoints; made by ``Deduplicator.batch``.

    Use as ``async with dedup.batch() as batch: await batch.ingest(path, name=...)``. Leaving the ``async
    with`` block checkpoints, also when it is left by an exception (the inputs whose ``ingest`` returned
    are complete); an error of that checkpoint is raised from there.
    """

    def __init__(
        self, ingest: IngestFunction, ingest_files: FilesFunction, flush: Callable[[], Awaitable[None]]
    ) -> None:
        self._ingest = ingest
        self._ingest_files = ingest_files
        self._flush = flush

    async def ingest(self, source: ByteSource, *, name: str | None = None, track_savings: bool = True) -> DedupRecipe:
        """Ingest like ``Deduplicator.ingest``; the recipe is registered at the next checkpoint.

        Raises like ``Deduplicator.ingest``; an ingest that raises registers nothing. A checkpoint this
        call reaches may raise OSError, and then the inputs since the previous checkpoint are not registered.
        """
        return await self._ingest(source, name, track_savings)

    async def ingest_files(
        self, files: Iterable[tuple[str | os.PathLike[str], str | None]], *, track_savings: bool = True
    ) -> list[DedupRecipe]:
        """Ingest files given as (path, name or None) pairs, in order; return their recipes.

        The same as one ``ingest`` per file, but files of at most 8 MiB are read and stored many in one
        worker-thread call (a backup of small files is bound by the hand-offs to threads otherwise).
        Raises like ``ingest`` and stops at the first file that fails; the files before it are kept.
        """
        return await self._ingest_files(files, track_savings)

    async def checkpoint(self) -> None:
        """Register every input ingested so far (pack fsyncs, then one transaction). Raises OSError."""
        await self._flush()

    async def __aenter__(self) -> IngestBatch:
        return self

    async def __aexit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.checkpoint()
