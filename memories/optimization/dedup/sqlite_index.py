"""What the two on-disk block stores share: an SQLite index of blocks and recipes (tables ``blocks`` keyed by ``id``
and ``recipes`` keyed by ``input_id``), and the queries every store answers from it alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from memories.optimization.dedup.block_store import BlockStore
from memories.optimization.dedup.recipe import DedupRecipe

# SQLite's default limit on bound parameters is 999 in older builds.
_QUERY_BATCH = 900


def _batches(items: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(items), _QUERY_BATCH):
        yield items[start : start + _QUERY_BATCH]


class SqliteIndexedStore(BlockStore):
    """A block store whose subclass opens ``_database`` (the index) in its ``__init__``."""

    _database: sqlite3.Connection

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
