"""What the two on-disk block stores share: an SQLite index of blocks and recipes (tables ``blocks`` keyed by ``id``
and ``recipes`` keyed by ``input_id``), and the queries every store answers from it alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from memories.errors import ConfigError
from memories.optimization.dedup.block_store import BlockStore, StoreTotals
from memories.optimization.dedup.hashing import BlockHasher
from memories.optimization.dedup.recipe import DedupRecipe

# SQLite's default limit on bound parameters is 999 in older builds.
_QUERY_BATCH = 900


def _batches(items: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(items), _QUERY_BATCH):
        yield items[start : start + _QUERY_BATCH]


class SqliteIndexedStore(BlockStore):
    """A block store whose subclass opens its index with :meth:`_open_index` in its ``__init__``.

    The subclass's schema has a table ``meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`` besides ``blocks`` (with
    a ``length`` column, bytes) and ``recipes`` (with ``size``, bytes, and ``block_count``).
    """

    path: Path
    _hasher: BlockHasher
    _database: sqlite3.Connection

    def _open_index(self, schema: str) -> None:
        """Open (or create) ``index.sqlite3`` under ``path`` with ``schema``; check the recorded hash algorithm.

        Raises ConfigError if the store was created with a different hash algorithm than ``_hasher``.
        """
        self._database = sqlite3.connect(self.path / "index.sqlite3", check_same_thread=False, isolation_level=None)
        self._database.execute("PRAGMA journal_mode=WAL")
        self._database.execute("PRAGMA synchronous=FULL")
        self._database.executescript(schema)
        recorded = self._meta("hash_algorithm")
        if recorded is None:
            self._database.execute("INSERT INTO meta VALUES ('hash_algorithm', ?)", (self._hasher.name,))
        elif recorded != self._hasher.name:
            raise ConfigError(
                f"hash_algorithm: store {self.path} holds {recorded!r} block ids, got {self._hasher.name!r}"
            )

    def _meta(self, key: str) -> str | None:
        row = self._database.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _load_totals(self) -> StoreTotals:
        """The totals as the index records them (counted once when the store opens, then kept in step)."""
        blocks, physical = self._database.execute("SELECT COUNT(*), COALESCE(SUM(length), 0) FROM blocks").fetchone()
        inputs, logical, total_blocks = self._database.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(block_count), 0) FROM recipes"
        ).fetchone()
        return StoreTotals(
            logical_bytes=logical,
            physical_bytes=physical,
            total_blocks=total_blocks,
            unique_blocks=blocks,
            inputs=inputs,
            processed_bytes=int(self._meta("processed_bytes") or 0),
            duplicate_bytes=int(self._meta("duplicate_bytes") or 0),
        )

    def _write_savings(self) -> None:
        """Record ``totals``' processed and duplicate bytes in the index (they cannot be counted from it)."""
        self._database.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("processed_bytes", str(self.totals.processed_bytes)),
                ("duplicate_bytes", str(self.totals.duplicate_bytes)),
            ],
        )

    def _existing(self, block_ids: Sequence[bytes], columns: str = "id") -> list[tuple[Any, ...]]:
        """The ``columns`` of the indexed blocks among ``block_ids`` (any number of them)."""
        rows: list[tuple[Any, ...]] = []
        for batch in _batches(block_ids):
            placeholders = ",".join("?" * len(batch))
            rows += self._database.execute(
                f"SELECT {columns} FROM blocks WHERE id IN ({placeholders})", list(batch)
            ).fetchall()
        return rows

    def missing(self, block_ids: Iterable[bytes]) -> list[bytes]:
        wanted = list(block_ids)
        present = {row[0] for row in self._existing(wanted)}
        return [block_id for block_id in wanted if block_id not in present]

    def recipe(self, input_id: str) -> DedupRecipe | None:
        row = self._database.execute("SELECT recipe FROM recipes WHERE input_id = ?", (input_id,)).fetchone()
        return None if row is None else DedupRecipe.from_bytes(row[0])

    def input_ids(self) -> list[str]:
        return [row[0] for row in self._database.execute("SELECT input_id FROM recipes ORDER BY input_id")]
