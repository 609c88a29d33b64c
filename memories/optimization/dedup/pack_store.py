"""A block store in a directory: blocks appended to pack files, an SQLite index, crash-safe, with garbage collection.

Layout under ``store_path``::

    packs              marks the layout (the older one-file-per-block layout is directory_store.py)
    packs/00000001.pack  records, appended: header (magic b"MDBK", id size u8, seed u8, length u32, little-endian),
                       block id, content. Self-describing: ``check`` re-reads and re-hashes every block.
    index.sqlite3      blocks (id -> pack, offset, length, seed, refcount), recipes, packs (valid end, dead bytes)

Crash safety (``kill -9`` at any point leaves a consistent store): new blocks are appended to the
current pack and the pack is fsynced *before* one SQLite transaction (WAL, ``synchronous=FULL``)
records them and the pack's new valid end; a recipe is registered in that transaction or a later one.
Commits may be *held* (``commit_held``/``put_held``, what a Deduplicator batch uses): their blocks are
appended at once but recorded, with their recipes, by the next ``flush`` — one pack fsync and one
transaction for many inputs. Every other operation but ``input_ids`` (a plain read, also made outside the
Deduplicator's lock) flushes first, so it sees every held input.
On open, every pack is truncated to its recorded valid end (dropping a torn tail or records no
transaction recorded), index entries that point past a pack's end are dropped (``check`` then names
the recipes they break), and packs the index does not use are deleted.

Space: removing an input frees its unshared blocks in the index at once (``physical_bytes`` drops);
their bytes stay in the packs as dead bytes until ``collect_garbage``, which marks the blocks every
recipe uses, drops the rest (also blocks of an interrupted streamed ingest), copies the live blocks
of mostly-dead packs into the current pack and deletes those packs.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from memories.errors import CorruptDataError
from memories.optimization.dedup.block_files import fsync_path
from memories.optimization.dedup.block_store import NewBlocks, missing_block_error
from memories.optimization.dedup.hashing import BlockData, BlockHasher
from memories.optimization.dedup.recipe import DedupRecipe
from memories.optimization.dedup.sqlite_index import SqliteIndexedStore

RECORD = struct.Struct("<4sBBI")
RECORD_MAGIC = b"MDBK"
# A pack is closed (a new one started) once it holds this many bytes.
PACK_BYTES = 64 * 1024**2
# collect_garbage repacks a pack when at least this fraction of its bytes is dead.
REPACK_DEAD_FRACTION = 0.5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    id BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
    seed INTEGER NOT NULL, refcount INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_by_pack ON blocks (pack);
CREATE TABLE IF NOT EXISTS recipes (
    input_id TEXT PRIMARY KEY, size INTEGER NOT NULL, block_count INTEGER NOT NULL, recipe BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS packs (number INTEGER PRIMARY KEY, valid_end INTEGER NOT NULL, dead_bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def is_pack_store(path: Path) -> bool:
    """True when ``path`` holds a pack store or nothing yet (new stores are pack stores)."""
    return (path / "packs").is_dir() or not (path / "index.sqlite3").exists()


class PackBlockStore(SqliteIndexedStore):
    """Blocks in append-only pack files under ``path`` with an SQLite index; see the module docstring.

    Raises ConfigError if the directory was created with a different hash algorithm.
    """

    def __init__(self, path: str | os.PathLike[str], hasher: BlockHasher) -> None:
        self.path = Path(path)
        self._hasher = hasher
        self._packs_path = self.path / "packs"
        self._packs_path.mkdir(parents=True, exist_ok=True)
        self._open_index(_SCHEMA)
        self._readers: dict[int, int] = {}
        # Held (appended, not yet recorded) blocks and recipes, see ``flush``.
        self._writers: dict[int, BinaryIO] = {}
        self._new_pack_files = False
        self._held_rows: list[tuple[bytes, int, int, int, int]] = []
        self._held_ids: set[bytes] = set()
        self._held_ends: dict[int, int] = {}
        self._held_recipes: list[DedupRecipe] = []
        self._held_bytes = 0
        # Packs being repacked: never appended to (their live blocks move to a newer pack).
        self._sealed: set[int] = set()
        self._recover()
        self.totals = self._load_totals()

    # -- opening -----------------------------------------------------------------------

    def _pack_path(self, number: int) -> Path:
        return self._packs_path / f"{number:08d}.pack"

    def _recover(self) -> None:
        """Make the packs and the index agree after a crash (see the module docstring)."""
        database = self._database
        recorded = dict(database.execute("SELECT number, valid_end FROM packs").fetchall())
        used = {row[0] for row in database.execute("SELECT DISTINCT pack FROM blocks")}
        for pack_file in sorted(self._packs_path.glob("*.pack")):
            number = int(pack_file.stem)
            if number not in used:
                pack_file.unlink()
                continue
            size = pack_file.stat().st_size
            valid_end = recorded.get(number, 0)
            if size > valid_end:
                with open(pack_file, "r+b") as file:
                    file.truncate(valid_end)
                    os.fsync(file.fileno())
            elif size < valid_end:  # lost bytes (not a crash of ours): forget the blocks past the end
                with database:
                    database.execute("BEGIN IMMEDIATE")
                    database.execute("DELETE FROM blocks WHERE pack = ? AND offset + length > ?", (number, size))
                    database.execute("UPDATE packs SET valid_end = ? WHERE number = ?", (size, number))
        present = {int(path.stem) for path in self._packs_path.glob("*.pack")}
        with database:
            database.execute("BEGIN IMMEDIATE")
            database.executemany("DELETE FROM packs WHERE number = ?", [(n,) for n in recorded if n not in present])
            database.executemany("DELETE FROM blocks WHERE pack = ?", [(n,) for n in used if n not in present])
        fsync_path(self._packs_path)

    # -- packs -------------------------------------------------------------------------

    def _current_pack(self) -> tuple[int, int]:
        """(number, valid end) of the pack to append to; a new one once the last is full."""
        if self._held_ends:
            number = max(self._held_ends)
            end = self._held_ends[number]
        else:
            row = self._database.execute("SELECT number, valid_end FROM packs ORDER BY number DESC LIMIT 1").fetchone()
            if row is None:
                return 1, 0
            number, end = int(row[0]), int(row[1])
        if end >= PACK_BYTES or number in self._sealed:
            return number + 1, 0
        return number, end

    def _writer(self, number: int, offset: int) -> BinaryIO:
        """The open append file of pack ``number``, positioned at ``offset`` (a tail past it is cut off)."""
        file = self._writers.get(number)
        if file is None:
            path = self._pack_path(number)
            if not path.exists():
                self._new_pack_files = True
            file = self._writers[number] = open(path, "ab")  # noqa: SIM115 - closed by _sync_packs
        if file.tell() != offset:  # a tail no transaction recorded (recovery truncates it; so do we)
            file.truncate(offset)
            file.seek(offset)
        return file

    def _append(self, blocks: Sequence[tuple[bytes, BlockData, int]]) -> list[tuple[bytes, int, int, int, int]]:
        """Append every (id, content, seed) record to packs (not yet synced); return their index rows."""
        rows: list[tuple[bytes, int, int, int, int]] = []
        while len(rows) < len(blocks):
            number, offset = self._current_pack()
            file = self._writer(number, offset)
            for block_id, content, seed in blocks[len(rows) :]:
                header = RECORD.pack(RECORD_MAGIC, len(block_id), seed, len(content))
                file.write(header + block_id)
                file.write(content)
                data_offset = offset + RECORD.size + len(block_id)
                rows.append((block_id, number, data_offset, len(content), seed))
                offset = data_offset + len(content)
                if offset >= PACK_BYTES:
                    break
            self._held_ends[number] = offset
        return rows

    def _sync_packs(self) -> None:
        """Make the appended records durable: fsync every pack written to (and the directory for new packs)."""
        try:
            for file in self._writers.values():
                file.flush()
                os.fsync(file.fileno())
            if self._new_pack_files:
                fsync_path(self._packs_path)
                self._new_pack_files = False
        finally:
            for file in self._writers.values():
                file.close()
            self._writers.clear()

    def _reader(self, number: int) -> int:
        descriptor = self._readers.get(number)
        if descriptor is None:
            descriptor = self._readers[number] = os.open(self._pack_path(number), os.O_RDONLY)
        return descriptor

    def _read_block(self, block_id: bytes, pack: int, offset: int, length: int, seed: int) -> bytes:
        location = f"block {block_id.hex()} (pack {pack}, offset {offset})"
        try:
            content = os.pread(self._reader(pack), length, offset)
        except FileNotFoundError:
            raise CorruptDataError("pack file is missing from the store", location=location) from None
        if len(content) != length or self._hasher.digest(content, seed) != block_id:
            raise CorruptDataError("block content does not match its id (damaged on disk)", location=location)
        return content

    # -- BlockStore --------------------------------------------------------------------

    def read(self, block_id: bytes) -> bytes | None:
        self.flush()
        row = self._database.execute(
            "SELECT id, pack, offset, length, seed FROM blocks WHERE id = ?", (block_id,)
        ).fetchone()
        return None if row is None else self._read_block(*row)

    def _hold(self, new_blocks: NewBlocks) -> None:
        """Append ``new_blocks`` to packs; ``flush`` records them."""
        if new_blocks.contents:
            records = [
                (block_id, content, new_blocks.seeds.get(block_id, 0))
                for block_id, content in new_blocks.contents.items()
            ]
            rows = self._append(records)
            self._held_rows += rows
            self._held_ids.update(row[0] for row in rows)

    def put_held(self, new_blocks: NewBlocks, hold_bytes: int) -> None:
        self._hold(new_blocks)
        self._held_bytes += new_blocks.total_bytes
        if not hold_bytes or self._held_bytes >= hold_bytes:
            self.flush()

    def put(self, new_blocks: NewBlocks) -> None:
        self.put_held(new_blocks, 0)

    def commit_held(self, recipe: DedupRecipe, new_blocks: NewBlocks, hold_bytes: int) -> None:
        self._hold(new_blocks)
        self._held_recipes.append(recipe)
        self._held_bytes += recipe.size
        if not hold_bytes or self._held_bytes >= hold_bytes:
            self.flush()

    def commit(self, recipe: DedupRecipe, new_blocks: NewBlocks) -> None:
        # One pack fsync and one transaction for a small input's blocks and its recipe together.
        self.commit_held(recipe, new_blocks, 0)

    def missing(self, block_ids: Iterable[bytes]) -> list[bytes]:
        held = self._held_ids
        return [block_id for block_id in super().missing(block_ids) if block_id not in held]

    def flush(self) -> None:
        """Record the held blocks and register the held recipes: pack fsyncs, then one transaction."""
        if not (self._held_ends or self._held_recipes):
            return
        rows, recipes, ends = self._held_rows, self._held_recipes, self._held_ends
        self._held_rows, self._held_recipes, self._held_ends = [], [], {}
        self._held_ids, self._held_bytes = set(), 0
        self._sync_packs()
        self._record(rows, ends, recipes)

    def _record(
        self,
        rows: list[tuple[bytes, int, int, int, int]],
        ends: dict[int, int],
        recipes: Sequence[DedupRecipe] = (),
        *,
        relocate: bool = False,
    ) -> None:
        """One transaction: index synced ``rows`` (new blocks, unreferenced; with ``relocate`` existing blocks'
        new copies), the packs' valid ``ends``, then register ``recipes`` in order."""
        database = self._database
        with database:
            database.execute("BEGIN IMMEDIATE")
            if relocate:
                database.executemany(
                    "UPDATE blocks SET pack = ?, offset = ? WHERE id = ?",
                    [(pack, offset, block_id) for block_id, pack, offset, _length, _seed in rows],
                )
            else:
                database.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?, ?, 0)", rows)
            database.executemany(
                "INSERT INTO packs VALUES (?, ?, 0) ON CONFLICT (number) DO UPDATE SET valid_end = excluded.valid_end",
                list(ends.items()),
            )
            if recipes:
                self._register(recipes)
        if not relocate:
            for _block_id, _pack, _offset, length, _seed in rows:
                self.totals.add_block(length)

    def _register(self, recipes: Sequence[DedupRecipe]) -> None:
        """Inside a transaction: register ``recipes`` in order, each replacing a recipe of the same id.

        Every recipe's references are added before any replaced recipe's are dropped, so a block that one
        of them shares with a recipe replaced in the same transaction is never freed.
        """
        database = self._database
        references = Counter[bytes]()
        for recipe in recipes:
            references.update(recipe.block_ids)
        database.executemany(
            "UPDATE blocks SET refcount = refcount + ? WHERE id = ?",
            [(count, block_id) for block_id, count in references.items()],
        )
        for recipe in recipes:
            old_recipe = super().recipe(recipe.input_id)
            if old_recipe is not None:
                self._unregister(old_recipe)
            database.execute(
                "INSERT INTO recipes VALUES (?, ?, ?, ?)",
                (recipe.input_id, recipe.size, recipe.total_blocks, recipe.to_bytes()),
            )
            self.totals.add_recipe(recipe)
            if recipe.new_bytes is not None:
                self.totals.add_savings(recipe)
        if any(recipe.new_bytes is not None for recipe in recipes):
            self._write_savings()

    def _drop_blocks(self, rows: Sequence[tuple[bytes, int, int]]) -> None:
        """Inside a transaction: forget (id, pack, length) blocks; their bytes become dead bytes of their pack."""
        database = self._database
        database.executemany("DELETE FROM blocks WHERE id = ?", [(row[0],) for row in rows])
        dead = Counter[int]()
        for _block_id, pack, length in rows:
            dead[pack] += RECORD.size + len(_block_id) + length
            self.totals.add_block(length, sign=-1)
        database.executemany(
            "UPDATE packs SET dead_bytes = dead_bytes + ? WHERE number = ?",
            [(size, pack) for pack, size in dead.items()],
        )

    def _unregister(self, recipe: DedupRecipe) -> None:
        """Inside a transaction: drop ``recipe`` and its references, freeing blocks nothing else uses."""
        counts = Counter(recipe.block_ids)
        rows = self._existing(list(counts), "id, refcount, pack, length")
        self._database.executemany(
            "UPDATE blocks SET refcount = refcount - ? WHERE id = ?", [(count, key) for key, count in counts.items()]
        )
        self._drop_blocks(
            [(block_id, pack, length) for block_id, refcount, pack, length in rows if refcount == counts[block_id]]
        )
        self._database.execute("DELETE FROM recipes WHERE input_id = ?", (recipe.input_id,))
        self.totals.add_recipe(recipe, sign=-1)

    def recipe(self, input_id: str) -> DedupRecipe | None:
        self.flush()
        return super().recipe(input_id)

    def remove(self, input_id: str) -> bool:
        recipe = self.recipe(input_id)
        if recipe is None:
            return False
        with self._database:
            self._database.execute("BEGIN IMMEDIATE")
            self._unregister(recipe)
        return True

    def assemble_blocks(self, recipe: DedupRecipe, block_ids: Sequence[bytes]) -> bytes:
        self.flush()
        unique_ids = list(dict.fromkeys(block_ids))
        rows = {row[0]: row for row in self._existing(unique_ids, "id, pack, offset, length, seed")}
        contents: dict[bytes, bytes] = {}
        for block_id in unique_ids:
            if block_id not in rows:
                raise missing_block_error(block_id, recipe)
            contents[block_id] = self._read_block(*rows[block_id])
        return b"".join([contents[block_id] for block_id in block_ids])

    # -- maintenance ---------------------------------------------------------------------

    def check(self) -> list[str]:
        """Re-read and re-hash every block, and look up every recipe's blocks; return the problems found."""
        self.flush()
        problems: list[str] = []
        for row in self._database.execute("SELECT id, pack, offset, length, seed FROM blocks").fetchall():
            try:
                self._read_block(*row)
            except CorruptDataError as error:
                problems.append(str(error))
        for input_id in self.input_ids():
            recipe = self.recipe(input_id)
            assert recipe is not None
            absent = self.missing(dict.fromkeys(recipe.block_ids))
            if absent:
                problems.append(f"input {input_id!r}: {len(absent)} blocks are not in the store")
        return problems

    def collect_garbage(self) -> int:
        """Drop blocks no recipe uses and repack mostly-dead packs; return the pack bytes reclaimed."""
        self.flush()
        database = self._database
        marked: set[bytes] = set()
        for (raw,) in database.execute("SELECT recipe FROM recipes").fetchall():
            marked.update(DedupRecipe.from_bytes(raw).block_ids)
        unmarked = [row for row in database.execute("SELECT id, pack, length FROM blocks") if row[0] not in marked]
        with database:
            database.execute("BEGIN IMMEDIATE")
            self._drop_blocks(unmarked)
        reclaimed = 0
        packs = database.execute("SELECT number, valid_end, dead_bytes FROM packs").fetchall()
        worth = [(number, dead) for number, end, dead in packs if dead and dead >= REPACK_DEAD_FRACTION * end]
        self._sealed = {number for number, _dead in worth}
        for number, dead_bytes in worth:
            live = database.execute(
                "SELECT id, offset, length, seed FROM blocks WHERE pack = ? ORDER BY offset", (number,)
            ).fetchall()
            # Copies first (fsynced, rows repointed), then the old pack goes: a crash in between leaves a
            # pack no row uses, which opening the store deletes.
            rows = self._append(
                [(block_id, self._read_block(block_id, number, *rest), rest[-1]) for block_id, *rest in live]
            )
            ends, self._held_ends = self._held_ends, {}
            self._sync_packs()
            self._record(rows, ends, relocate=True)
            with database:
                database.execute("BEGIN IMMEDIATE")
                database.execute("DELETE FROM packs WHERE number = ?", (number,))
            descriptor = self._readers.pop(number, None)
            if descriptor is not None:
                os.close(descriptor)
            self._pack_path(number).unlink()
            reclaimed += dead_bytes
        self._sealed = set()
        fsync_path(self._packs_path)
        return reclaimed

    def close(self) -> None:
        self.flush()
        for descriptor in self._readers.values():
            os.close(descriptor)
        self._readers.clear()
        self._database.close()
