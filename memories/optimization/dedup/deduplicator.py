"""Deduplicator: split inputs into blocks, store each distinct block once, rebuild on demand."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from memories.errors import ConfigError, CorruptDataError, MemoriesError
from memories.optimization.dedup import streams
from memories.optimization.dedup.batch import DEFAULT_CHECKPOINT_BYTES, IngestBatch
from memories.optimization.dedup.block_store import BlockStore, NewBlocks
from memories.optimization.dedup.chunking import MINIMUM_CDC_AVERAGE_BYTES, fixed_boundaries
from memories.optimization.dedup.directory_store import DirectoryBlockStore
from memories.optimization.dedup.hashing import BlockData, hasher_named, input_id_of
from memories.optimization.dedup.memory_store import MemoryBlockStore
from memories.optimization.dedup.metrics import DedupMetrics
from memories.optimization.dedup.pack_store import PackBlockStore, is_pack_store
from memories.optimization.dedup.recipe import CHUNKING_METHODS, DedupRecipe
from memories.optimization.dedup.runs import run_aware_boundaries
from memories.optimization.dedup.streams import ByteSink, ByteSource, Segments, StreamSegments, WindowSegments
from memories.units import Size, parse_size

MINIMUM_BLOCK_BYTES = 64
MAXIMUM_BLOCK_BYTES = 16 * 1024**2
# A 128-bit hash colliding this many times in a row for one block means it is broken.
MAXIMUM_COLLISION_SEEDS = 64
# ingest_files and restore_files hand runs of up to this many small files to one worker-thread call.
FILES_PER_CALL = 256


class _Readable(Protocol):
    def read(self) -> bytes: ...


DedupInput = bytes | bytearray | memoryview | np.ndarray | str | os.PathLike[str] | _Readable


def as_byte_view(data: DedupInput) -> memoryview:
    """Return the bytes of ``data`` as a flat unsigned-byte memoryview (no copy when possible).

    Accepts bytes-like objects, numpy arrays (their raw bytes in C order), file paths
    (``str`` or ``os.PathLike``; the file is read) and binary file objects (read to the end).
    Raises TypeError for anything else and FileNotFoundError for a missing file.
    """
    if isinstance(data, str | os.PathLike):
        return memoryview(Path(data).read_bytes())
    if isinstance(data, np.ndarray):
        if data.dtype.hasobject:
            raise TypeError("data: numpy arrays of Python objects have no fixed bytes to deduplicate")
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8).data
    if hasattr(data, "read"):
        return as_byte_view(data.read())
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"data: expected bytes-like, a numpy array, a file path or a binary file, got {type(data).__name__}"
        ) from None
    return view.cast("B") if view.c_contiguous else memoryview(view.tobytes())


def _blocks_of(view: memoryview, ends: list[int]) -> list[memoryview]:
    """The blocks of ``view`` that end at ``ends``, as slices."""
    return [view[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=False)]


class Deduplicator:
    """Content-addressed deduplication of inputs into a persistent block store.

    ``block_size`` (bytes or a size like ``"4KB"``, 64 B to 16 MiB) is the fixed block size,
    or the average chunk size for ``chunking="cdc"`` (FastCDC with long runs of one byte cut out, runs.py; at least 256 B; chunks range
    from a quarter to eight times the average). ``hash_algorithm`` names block ids:
    ``"xxhash"`` (XXH3-128, fast), ``"blake2b"`` or ``"sha256"`` (cryptographic); see
    ``hashing.py`` for why ids are 128-bit. ``verify=True`` compares bytes on every id match
    and stores a colliding block under a different id instead of trusting the hash.
    ``store_path`` keeps the store in that directory (created if needed, crash-safe,
    reopened with everything in it): blocks appended to pack files with an SQLite index
    (pack_store.py; ``collect_garbage`` reclaims deleted inputs' space, ``check`` verifies
    every block). A directory that holds a store of the older one-file-per-block layout
    (directory_store.py) opens as that layout. None keeps the store in memory.

    Raises ConfigError for invalid settings, or when ``store_path`` holds ids of another
    hash algorithm. Heavy work runs in worker threads (an input is cut and hashed a segment ahead
    of storing, see ``_deduplicate``); operations on one instance are serialized.
    """

    def __init__(
        self,
        block_size: Size = "4KB",
        hash_algorithm: str = "xxhash",
        *,
        chunking: str = "fixed",
        verify: bool = False,
        store_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.block_size = parse_size(block_size, field="block_size", allow_zero=False)
        if not MINIMUM_BLOCK_BYTES <= self.block_size <= MAXIMUM_BLOCK_BYTES:
            raise ConfigError(
                f"block_size: expected {MINIMUM_BLOCK_BYTES} bytes to 16MB, got {block_size!r} ({self.block_size} bytes)"
            )
        if chunking not in CHUNKING_METHODS:
            raise ConfigError(f"chunking: expected one of {sorted(CHUNKING_METHODS)}, got {chunking!r}")
        if chunking == "cdc" and self.block_size < MINIMUM_CDC_AVERAGE_BYTES:
            raise ConfigError(
                f"block_size: chunking='cdc' needs an average of at least {MINIMUM_CDC_AVERAGE_BYTES} bytes, "
                f"got {block_size!r}"
            )
        if not isinstance(verify, bool):
            raise ConfigError(f"verify: expected True or False, got {verify!r}")
        self.chunking = chunking
        self.verify = verify
        self.hasher = hasher_named(hash_algorithm)
        self.store_path = None if store_path is None else Path(store_path)
        self._store = self._open_store()
        self._lock = asyncio.Lock()

    def _open_store(self) -> BlockStore:
        """In memory; a pack store for a new or pack-layout directory; the one-file-per-block store it replaced."""
        if self.store_path is None:
            return MemoryBlockStore()
        if is_pack_store(self.store_path):
            return PackBlockStore(self.store_path, self.hasher)
        return DirectoryBlockStore(self.store_path, self.hasher)

    # -- public API --------------------------------------------------------------------

    async def process(self, data: DedupInput, track_savings: bool = True, *, name: str | None = None) -> DedupRecipe:
        """Deduplicate ``data`` into the store and return its recipe.

        The recipe is registered under ``name`` if given, else under the XXH3-128 hex digest
        of the whole input; processing under an existing id replaces that input. With
        ``track_savings`` the recipe's ``new_bytes``/``new_blocks`` and the metrics'
        ``processed_bytes``/``duplicate_bytes`` are updated. Raises TypeError for
        unsupported data, ConfigError for an empty ``name``.
        """
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(f"name: expected a non-empty string, got {name!r}")
        view = await asyncio.to_thread(as_byte_view, data)
        input_id = name if name is not None else await asyncio.to_thread(input_id_of, view)
        async with self._lock:
            block_ids, added, last_blocks = await self._deduplicate(WindowSegments(view))
            return await asyncio.to_thread(
                self._register, input_id, len(view), block_ids, added, track_savings, last_blocks
            )

    async def restore(self, recipe_or_input_id: DedupRecipe | str) -> bytes:
        """Return the exact bytes of an input, given its recipe or its input id.

        Raises KeyError for an unknown input id or a block missing from the store,
        CorruptDataError when a stored block is damaged (the message names the block).
        """
        async with self._lock:
            return await asyncio.to_thread(self._restore, recipe_or_input_id)

    async def ingest(self, source: ByteSource, *, name: str | None = None, track_savings: bool = True) -> DedupRecipe:
        """Deduplicate a stream of any size into the store in bounded memory and return its recipe.

        ``source`` is a file path, a binary file object (read in 8 MiB pieces) or an async iterator
        of bytes-like pieces of any sizes. The blocks and the recipe are those ``process`` gives for
        the same bytes (same cut points, same default id: the XXH3-128 of the whole input). New
        blocks are stored a segment (~8 MiB) at a time; the recipe is registered at the end, so an
        interrupted ingest registers nothing. A file of at most 8 MiB is read and stored in one
        worker-thread call. Other operations on this instance wait until it is done. Raises TypeError
        for an unsupported source, ConfigError for an empty ``name``. To ingest many inputs with one
        pack fsync and one index transaction per checkpoint instead of per input, use ``batch``.
        """
        return await self._ingest(source, name, track_savings, 0)

    def batch(self, checkpoint_bytes: Size = DEFAULT_CHECKPOINT_BYTES) -> IngestBatch:
        """An ``async with`` batch of ingests made durable together (see batch.py), like a backup tool's checkpoints.

        ``batch.ingest`` takes what ``ingest`` takes; its inputs are registered at a checkpoint: once about
        ``checkpoint_bytes`` (bytes or a size like ``"64MB"``; new block bytes plus the inputs' sizes) are
        pending, at ``batch.checkpoint()``, when the batch ends (also by an exception) and before any other
        async operation on this instance (restore, delete, check...); ``input_ids`` and ``get_metrics`` count
        an input once its checkpoint is done. A crash (``kill -9``) loses the inputs since the last checkpoint and
        nothing before it. Stores in memory and of the one-file-per-block layout commit every input at once.
        Raises ConfigError for a size that does not parse or is not positive.
        """
        limit = parse_size(checkpoint_bytes, field="checkpoint_bytes", allow_zero=False)
        return IngestBatch(
            lambda source, name, track_savings: self._ingest(source, name, track_savings, limit),
            lambda files, track_savings: self._ingest_files(files, track_savings, limit),
            self._flush,
        )

    async def _ingest(self, source: ByteSource, name: str | None, track_savings: bool, hold_bytes: int) -> DedupRecipe:
        """``ingest``, with commits held up to ``hold_bytes`` (0: commit at once)."""
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(f"name: expected a non-empty string, got {name!r}")
        async with self._lock:
            if isinstance(source, str | os.PathLike):
                recipe = await asyncio.to_thread(self._ingest_small_file, source, name, track_savings, hold_bytes)
                if recipe is not None:
                    return recipe
            segments = StreamSegments(source)
            block_ids, added, last_blocks = await self._deduplicate(segments, hold_bytes)
            input_id = name if name is not None else segments.hexdigest()
            return await asyncio.to_thread(
                self._register, input_id, segments.size, block_ids, added, track_savings, last_blocks, hold_bytes
            )

    async def _ingest_files(
        self, files: Iterable[tuple[str | os.PathLike[str], str | None]], track_savings: bool, hold_bytes: int
    ) -> list[DedupRecipe]:
        """Ingest files (path, name or None), runs of small ones in one worker-thread call each."""
        items = list(files)
        for _path, name in items:
            if name is not None and (not isinstance(name, str) or not name):
                raise ConfigError(f"name: expected a non-empty string, got {name!r}")
        recipes: list[DedupRecipe] = []
        while len(recipes) < len(items):
            run = items[len(recipes) : len(recipes) + FILES_PER_CALL]
            async with self._lock:
                done = await asyncio.to_thread(self._ingest_small_files, run, track_savings, hold_bytes)
            recipes += done
            if len(done) < len(run):  # a file larger than one segment: streamed
                path, name = run[len(done)]
                recipes.append(await self._ingest(path, name, track_savings, hold_bytes))
        return recipes

    def _ingest_small_files(
        self, files: list[tuple[str | os.PathLike[str], str | None]], track_savings: bool, hold_bytes: int
    ) -> list[DedupRecipe]:
        """Ingest files whole until the first one larger than a segment; return the recipes of those done."""
        recipes: list[DedupRecipe] = []
        for path, name in files:
            recipe = self._ingest_small_file(path, name, track_savings, hold_bytes)
            if recipe is None:
                break
            recipes.append(recipe)
        return recipes

    async def _flush(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._store.flush)

    async def restore_stream(self, recipe_or_input_id: DedupRecipe | str) -> AsyncIterator[bytes]:
        """Yield an input's exact bytes in pieces of about 8 MiB (bounded memory for any size).

        Raises KeyError for an unknown input id or a block missing from the store (also when the
        input is deleted while it is being read), CorruptDataError for a damaged block or when
        the pieces do not add up to the recipe's size.
        """
        async with self._lock:
            recipe = self._recipe_of(recipe_or_input_id)
        run = max(1, streams.WRITE_BYTES // self.block_size)
        written = 0
        for start in range(0, recipe.total_blocks, run):
            async with self._lock:
                piece = await asyncio.to_thread(
                    self._store.assemble_blocks, recipe, recipe.block_ids[start : start + run]
                )
            written += len(piece)
            yield piece
        if written != recipe.size:
            raise CorruptDataError(
                f"restored {written} bytes, the recipe says {recipe.size}", location=f"input {recipe.input_id}"
            )

    async def restore_to(self, recipe_or_input_id: DedupRecipe | str, destination: ByteSink) -> int:
        """Write an input's exact bytes to ``destination`` (a file path or a binary file object) in pieces.

        Returns the number of bytes written. Raises like ``restore_stream``; a path is created or
        truncated first, and holds a partial input if restoring fails.
        """
        if isinstance(destination, str | os.PathLike):
            file = await asyncio.to_thread(Path(destination).open, "wb")
            try:
                return await self.restore_to(recipe_or_input_id, file)
            finally:
                await asyncio.to_thread(file.close)
        written = 0
        async for piece in self.restore_stream(recipe_or_input_id):
            await asyncio.to_thread(destination.write, piece)
            written += len(piece)
        return written

    async def restore_files(self, files: Iterable[tuple[DedupRecipe | str, str | os.PathLike[str]]]) -> int:
        """Restore many inputs to files: (recipe or input id, destination path) pairs; return the bytes written.

        Like ``restore_to`` for each pair (missing parent directories are created), but inputs of at most
        8 MiB are restored many in one worker-thread call. Raises like ``restore_stream`` and stops at the
        first input that fails; the files restored before it stay.
        """
        items = list(files)
        written = position = 0
        while position < len(items):
            run = items[position : position + FILES_PER_CALL]
            async with self._lock:
                count, size = await asyncio.to_thread(self._restore_small_files, run)
            position += count
            written += size
            if count < len(run):  # larger than one write: in pieces
                source, destination = run[count]
                await asyncio.to_thread(Path(destination).parent.mkdir, parents=True, exist_ok=True)
                written += await self.restore_to(source, destination)
                position += 1
        return written

    async def delete(self, input_id: str) -> None:
        """Forget an input and free the blocks no other input uses; KeyError if unknown."""
        async with self._lock:
            if not await asyncio.to_thread(self._store.remove, input_id):
                raise KeyError(f"no input {input_id!r} in the dedup store")

    async def check(self) -> list[str]:
        """Verify the store: every block read back and re-hashed (on disk), every recipe's blocks present.

        Returns the problems found, one sentence each naming the block or input; empty when the store is sound.
        """
        async with self._lock:
            return await asyncio.to_thread(self._store.check)

    async def collect_garbage(self) -> int:
        """Free blocks no registered input uses and reclaim dead space on disk; return the bytes reclaimed.

        In a pack store, deleted inputs' blocks stay in their pack files until this runs: packs that
        are mostly dead are rewritten with their live blocks only (crash-safe, see pack_store.py).
        """
        async with self._lock:
            return await asyncio.to_thread(self._store.collect_garbage)

    def get_metrics(self) -> DedupMetrics:
        """Return a snapshot of the store's sizes, block counts and savings."""
        return DedupMetrics.from_totals(self._store.totals)

    def stats(self) -> DedupMetrics:
        """Same as ``get_metrics`` (the name every part's collector reads)."""
        return self.get_metrics()

    def input_ids(self) -> list[str]:
        """Return the ids of the registered inputs."""
        return self._store.input_ids()

    def close(self) -> None:
        """Close the on-disk store's index (nothing to do for an in-memory store)."""
        self._store.close()

    # -- worker-thread steps -----------------------------------------------------------

    def _split_and_hash(self, view: memoryview, final: bool = True) -> tuple[list[int], list[bytes]]:
        """Cut ``view`` into blocks (with ``final=False`` only the settled ones); return their ends and ids."""
        size, block_size = len(view), self.block_size
        if self.chunking == "fixed":
            ends: npt.NDArray[np.int64] = fixed_boundaries(size if final else size - size % block_size, block_size)
        else:
            ends = run_aware_boundaries(np.frombuffer(view, dtype=np.uint8), block_size, final=final)
        return ends.tolist(), self.hasher.block_ids(view, ends)

    def _new_blocks(self, view: memoryview, ends: list[int], block_ids: list[bytes]) -> tuple[list[bytes], NewBlocks]:
        """Return the final block ids and the blocks the store does not hold yet (in input order).

        Only the new blocks become memoryview slices: most of a backup's blocks are usually stored already.
        """
        if self.verify:
            return self._resolve_with_verification(_blocks_of(view, ends), block_ids)
        first_index = dict(zip(reversed(block_ids), range(len(block_ids) - 1, -1, -1), strict=True))
        contents: dict[bytes, BlockData] = {}
        for block_id in self._store.missing(dict.fromkeys(block_ids)):
            index = first_index[block_id]
            contents[block_id] = view[ends[index - 1] if index else 0 : ends[index]]
        return block_ids, NewBlocks(contents)

    async def _deduplicate(
        self, segments: Segments, hold_bytes: int = 0
    ) -> tuple[list[bytes], tuple[int, int], NewBlocks]:
        """Store the blocks of every segment but the last; return the input's block ids, (new bytes, new blocks)
        and the last segment's new blocks (stored with the recipe, in one transaction on disk).

        A pipeline of two worker threads: a segment is cut and hashed (C code, without the GIL) while the
        previous one's new blocks are looked up and stored, so on two cores neither waits for the other.
        """
        block_ids: list[bytes] = []
        added = [0, 0]
        storing: asyncio.Task[NewBlocks] | None = None
        try:
            final = False
            while not final:
                view, final = await segments.segment()
                ends, ids = await asyncio.to_thread(self._split_and_hash, view, final)
                segments.advance(ends[-1] if ends else 0)
                if storing is not None:
                    await storing
                storing = asyncio.create_task(
                    asyncio.to_thread(self._store_segment, view, ends, ids, block_ids, added, final, hold_bytes)
                )
            assert storing is not None
            last_blocks = await storing
        finally:
            if storing is not None and not storing.done():  # failed or cancelled: let the thread finish first
                await asyncio.wait([storing])
        return block_ids, (added[0], added[1]), last_blocks

    def _store_segment(
        self,
        view: memoryview,
        ends: list[int],
        ids: list[bytes],
        block_ids: list[bytes],
        added: list[int],
        final: bool,
        hold_bytes: int = 0,
    ) -> NewBlocks:
        """Store a segment's new blocks (unreferenced until ``_register``), or return them for the last segment;
        append its final ids to ``block_ids`` and add the new bytes and blocks to ``added``."""
        ids, new_blocks = self._new_blocks(view, ends, ids)
        block_ids += ids
        added[0] += new_blocks.total_bytes
        added[1] += len(new_blocks.contents)
        if final:
            return new_blocks
        self._store.put_held(new_blocks, hold_bytes)
        return NewBlocks()

    def _register(
        self,
        input_id: str,
        size: int,
        block_ids: list[bytes],
        added: tuple[int, int],
        track_savings: bool,
        last_blocks: NewBlocks,
        hold_bytes: int = 0,
    ) -> DedupRecipe:
        recipe = DedupRecipe(
            input_id,
            size,
            self.hasher.name,
            CHUNKING_METHODS[self.chunking],
            self.block_size,
            tuple(block_ids),
            new_bytes=added[0] if track_savings else None,
            new_blocks=added[1] if track_savings else None,
        )
        self._store.commit_held(recipe, last_blocks, hold_bytes)
        return recipe

    def _ingest_small_file(
        self, path: str | os.PathLike[str], name: str | None, track_savings: bool, hold_bytes: int
    ) -> DedupRecipe | None:
        """Ingest a file of at most ``streams.READ_BYTES`` whole, in this one thread; None for a larger file."""
        if os.stat(path).st_size > streams.READ_BYTES:
            return None
        with open(path, "rb") as file:
            data = file.read(streams.READ_BYTES + 1)
        if len(data) > streams.READ_BYTES:  # grew since the stat
            return None
        view = memoryview(data)
        ends, ids = self._split_and_hash(view)
        block_ids: list[bytes] = []
        added = [0, 0]
        new_blocks = self._store_segment(view, ends, ids, block_ids, added, True)
        input_id = name if name is not None else input_id_of(view)
        return self._register(
            input_id, len(view), block_ids, (added[0], added[1]), track_savings, new_blocks, hold_bytes
        )

    def _resolve_with_verification(
        self, blocks: list[memoryview], block_ids: list[bytes]
    ) -> tuple[list[bytes], NewBlocks]:
        """Byte-compare every id match; give a colliding block the id of the next free seed."""
        known: dict[bytes, BlockData | None] = {}
        new_blocks = NewBlocks()
        resolved: list[bytes] = []
        for block, block_id in zip(blocks, block_ids, strict=True):
            for seed in range(MAXIMUM_COLLISION_SEEDS):
                if seed:
                    block_id = self.hasher.digest(block, seed)
                if block_id not in known:
                    known[block_id] = self._store.read(block_id)
                existing = known[block_id]
                if existing is None:
                    known[block_id] = block
                    new_blocks.contents[block_id] = block
                    if seed:
                        new_blocks.seeds[block_id] = seed
                    break
                if existing == block:
                    break
            else:
                raise MemoriesError(f"{self.hasher.name}: {MAXIMUM_COLLISION_SEEDS} colliding ids for one block")
            resolved.append(block_id)
        return resolved, new_blocks

    def _restore(self, recipe_or_input_id: DedupRecipe | str) -> bytes:
        recipe = self._recipe_of(recipe_or_input_id)
        restored = self._store.assemble(recipe)
        if len(restored) != recipe.size:
            raise CorruptDataError(
                f"restored {len(restored)} bytes, the recipe says {recipe.size}", location=f"input {recipe.input_id}"
            )
        return restored

    def _restore_small_files(self, files: list[tuple[DedupRecipe | str, str | os.PathLike[str]]]) -> tuple[int, int]:
        """Restore inputs whole until the first one larger than ``streams.WRITE_BYTES``; (inputs done, bytes)."""
        made: set[Path] = set()
        written = 0
        for done, (source, destination) in enumerate(files):
            recipe = self._recipe_of(source)
            if recipe.size > streams.WRITE_BYTES:
                return done, written
            restored = self._restore(recipe)
            path = Path(destination)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            path.write_bytes(restored)
            written += len(restored)
        return len(files), written

    def _recipe_of(self, recipe_or_input_id: DedupRecipe | str) -> DedupRecipe:
        """The recipe given, or the one registered under the id; KeyError or ConfigError like ``restore``."""
        if isinstance(recipe_or_input_id, DedupRecipe):
            recipe = recipe_or_input_id
        else:
            found = self._store.recipe(recipe_or_input_id)
            if found is None:
                raise KeyError(f"no input {recipe_or_input_id!r} in the dedup store")
            recipe = found
        if recipe.hash_algorithm != self.hasher.name:
            raise ConfigError(
                f"hash_algorithm: recipe {recipe.input_id!r} uses {recipe.hash_algorithm!r}, "
                f"this store uses {self.hasher.name!r}"
            )
        return recipe
