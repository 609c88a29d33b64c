"""A block store in a directory on disk that survives restarts and crashes.

Layout under ``store_path``::

    index.sqlite3          blocks (id, length, refcount, seed), recipes, pending ids, counters
    blocks/ab/<hex id>     one file per block, content-addressed, fanned out over 256
                           directories by the first id byte (created when the store is)
    tmp/                   files being written; anything left here after a crash is deleted

Crash safety: block files are written to ``tmp/``, renamed into place with ``os.replace``
and made durable (per-file fsync or one syncfs, see ``block_files.py``) before the index
refers to them. SQLite runs in WAL mode with ``synchronous=FULL``,
so a committed transaction is durable and an interrupted one is rolled back. The ids of
block files about to be created (by ``commit``) or deleted (by ``remove``) are recorded in
the ``pending`` table *before* touching the files; on open, a pending id that the ``blocks``
table does not hold is an orphan of an interrupted operation and its file is deleted. So
after any crash the index and the files agree, and every registered recipe restores.

Reads verify each block against its id (rehashing it with the recorded seed) and raise
CorruptDataError naming the block when the file is missing or damaged.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from memories.errors import CorruptDataError
from memories.optimization.dedup.block_files import write_files_durably
from memories.optimization.dedup.block_store import NewBlocks, missing_block_error
from memories.optimization.dedup.hashing import BlockHasher
from memories.optimization.dedup.recipe import DedupRecipe
from memories.optimization.dedup.sqlite_index import SqliteIndexedStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    id BLOB PRIMARY KEY, length INTEGER NOT NULL, refcount INTEGER NOT NULL, seed INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recipes (
    input_id TEXT PRIMARY KEY, size INTEGER NOT NULL, block_count INTEGER NOT NULL, recipe BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (id BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class DirectoryBlockStore(SqliteIndexedStore):
    """Blocks as files under ``path`` with an SQLite index; see the module docstring.

    Raises ConfigError if the directory was created with a different hash algorithm.
    """

    def __init__(self, path: str | os.PathLike[str], hasher: BlockHasher) -> None:
        self.path = Path(path)
        self._hasher = hasher
        self._blocks_path = self.path / "blocks"
        self._temporary_path = self.path / "tmp"
        self._blocks_path.mkdir(parents=True, exist_ok=True)
        self._temporary_path.mkdir(exist_ok=True)
        for first_byte in range(256):
            (self._blocks_path / f"{first_byte:02x}").mkdir(exist_ok=True)
        self._open_index(_SCHEMA)
        self._recover()
        self.totals = self._load_totals()

    # -- opening -----------------------------------------------------------------------

    def _recover(self) -> None:
        """Delete leftovers of an interrupted write or delete (see the module docstring)."""
        for leftover in self._temporary_path.iterdir():
            leftover.unlink(missing_ok=True)
        orphans = [
            row[0]
            for row in self._database.execute(
                "SELECT id FROM pending WHERE id NOT IN (SELECT id FROM blocks)"
            ).fetchall()
        ]
        for block_id in orphans:
            self._block_path(block_id).unlink(missing_ok=True)
        self._database.execute("DELETE FROM pending")

    # -- block files -------------------------------------------------------------------

    def _block_path(self, block_id: bytes) -> Path:
        name = block_id.hex()
        return self._blocks_path / name[:2] / name

    def _read_block(self, block_id: bytes, seed: int) -> bytes:
        location = f"block {block_id.hex()}"
        try:
            content = self._block_path(block_id).read_bytes()
        except FileNotFoundError:
            raise CorruptDataError("block file is missing from the store", location=location) from None
        if self._hasher.digest(content, seed) != block_id:
            raise CorruptDataError("block content does not match its id (damaged on disk)", location=location)
        return content

    # -- BlockStore ----------------------------------------------------------------------

    def read(self, block_id: bytes) -> bytes | None:
        row = self._database.execute("SELECT seed FROM blocks WHERE id = ?", (block_id,)).fetchone()
        return None if row is None else self._read_block(block_id, row[0])

    def commit(self, recipe: DedupRecipe, new_blocks: NewBlocks) -> None:
        database = self._database
        self._write_block_files(new_blocks)
        old_recipe = self.recipe(recipe.input_id)
        with database:
            database.execute("BEGIN IMMEDIATE")
            self._index_blocks(new_blocks)
            database.executemany(
                "UPDATE blocks SET refcount = refcount + ? WHERE id = ?",
                [(count, block_id) for block_id, count in Counter(recipe.block_ids).items()],
            )
            freed = self._unregister(old_recipe) if old_recipe is not None else []
            database.execute(
                "INSERT INTO recipes VALUES (?, ?, ?, ?)",
                (recipe.input_id, recipe.size, recipe.total_blocks, recipe.to_bytes()),
            )
            self._save_savings(recipe)
        self._count_new_blocks(new_blocks)
        self.totals.add_recipe(recipe)
        self._delete_files(freed)

    def _save_savings(self, recipe: DedupRecipe) -> None:
        if recipe.new_bytes is None:
            return
        self.totals.add_savings(recipe)
        self._write_savings()

    def _unregister(self, recipe: DedupRecipe) -> list[bytes]:
        """Inside a transaction: drop ``recipe`` and its references; return the freed ids."""
        counts = Counter(recipe.block_ids)
        rows = self._existing(list(counts), "id, refcount, length")
        freed_rows = [(block_id, length) for block_id, refcount, length in rows if refcount == counts[block_id]]
        freed = [block_id for block_id, _length in freed_rows]
        database = self._database
        database.executemany(
            "UPDATE blocks SET refcount = refcount - ? WHERE id = ?", [(count, key) for key, count in counts.items()]
        )
        database.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(block_id,) for block_id in freed])
        database.executemany("DELETE FROM blocks WHERE id = ?", [(block_id,) for block_id in freed])
        database.execute("DELETE FROM recipes WHERE input_id = ?", (recipe.input_id,))
        for _block_id, length in freed_rows:
            self.totals.add_block(length, sign=-1)
        self.totals.add_recipe(recipe, sign=-1)
        return freed

    def _delete_files(self, block_ids: list[bytes]) -> None:
        for block_id in block_ids:
            self._block_path(block_id).unlink(missing_ok=True)
        with self._database:
            self._database.executemany("DELETE FROM pending WHERE id = ?", [(block_id,) for block_id in block_ids])

    def collect_garbage(self) -> int:
        rows = self._database.execute("SELECT id, length FROM blocks WHERE refcount = 0").fetchall()
        with self._database:
            self._database.execute("BEGIN IMMEDIATE")
            self._database.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(row[0],) for row in rows])
            self._database.executemany("DELETE FROM blocks WHERE id = ?", [(row[0],) for row in rows])
        for _block_id, length in rows:
            self.totals.add_block(length, sign=-1)
        self._delete_files([row[0] for row in rows])
        return sum(length for _block_id, length in rows)

    def remove(self, input_id: str) -> bool:
        recipe = self.recipe(input_id)
        if recipe is None:
            return False
        with self._database:
            self._database.execute("BEGIN IMMEDIATE")
            freed = self._unregister(recipe)
        self._delete_files(freed)
        return True

    def put(self, new_blocks: NewBlocks) -> None:
        if not new_blocks.contents:
            return
        database = self._database
        self._write_block_files(new_blocks)
        with database:
            database.execute("BEGIN IMMEDIATE")
            self._index_blocks(new_blocks)
        self._count_new_blocks(new_blocks)

    def _count_new_blocks(self, new_blocks: NewBlocks) -> None:
        """Count ``new_blocks`` in ``totals`` once the transaction that indexed them has committed."""
        self.totals.physical_bytes += new_blocks.total_bytes
        self.totals.unique_blocks += len(new_blocks.contents)

    def _write_block_files(self, new_blocks: NewBlocks) -> None:
        """Record ``new_blocks`` as pending (so a crash leaves no orphan file), then write their files durably."""
        with self._database:
            self._database.execute("BEGIN IMMEDIATE")
            self._database.executemany(
                "INSERT OR IGNORE INTO pending VALUES (?)", [(block_id,) for block_id in new_blocks.contents]
            )
        write_files_durably(
            ((self._block_path(block_id), content) for block_id, content in new_blocks.contents.items()),
            self._temporary_path,
            self._blocks_path,
        )

    def _index_blocks(self, new_blocks: NewBlocks) -> None:
        """Inside the transaction that references them: index ``new_blocks``, no longer pending (callers count them)."""
        self._database.executemany(
            "INSERT INTO blocks VALUES (?, ?, 0, ?)",
            [
                (block_id, len(content), new_blocks.seeds.get(block_id, 0))
                for block_id, content in new_blocks.contents.items()
            ],
        )
        self._database.executemany(
            "DELETE FROM pending WHERE id = ?", [(block_id,) for block_id in new_blocks.contents]
        )

    def assemble_blocks(self, recipe: DedupRecipe, block_ids: Sequence[bytes]) -> bytes:
        unique_ids = list(dict.fromkeys(block_ids))
        seeds = {row[0]: row[1] for row in self._existing(unique_ids, "id, seed")}
        contents: dict[bytes, bytes] = {}
        for block_id in unique_ids:
            if block_id not in seeds:
                raise missing_block_error(block_id, recipe)
            contents[block_id] = self._read_block(block_id, seeds[block_id])
        return b"".join([contents[block_id] for block_id in block_ids])

    def close(self) -> None:
        self._database.close()
