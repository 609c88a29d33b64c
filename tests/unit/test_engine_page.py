"""The engine's reference page (docs/engine.md): every python block runs as written, each on its own, and every
class the engine's packages export appears in at least one block."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.unit.doc_blocks import CodeBlock, markdown_python_blocks, names_used, run_block

REPOSITORY = Path(__file__).resolve().parents[2]
ENGINE_PAGE = REPOSITORY / "docs" / "engine.md"
ENGINE_PACKAGE = REPOSITORY / "memories" / "optimization"
BLOCKS = markdown_python_blocks(ENGINE_PAGE)


def exported_names() -> dict[str, str]:
    """Every name in the ``__all__`` of a package under memories/optimization/, with the innermost package exporting it."""
    exports: dict[str, str] = {}
    for init in sorted(ENGINE_PACKAGE.rglob("__init__.py")):
        package = ".".join(init.parent.relative_to(REPOSITORY).parts)
        for name in getattr(importlib.import_module(package), "__all__", ()):
            exports[name] = package  # the subpackage (sorted after its parent) names where it lives
    return exports


def undocumented(exports: dict[str, str], blocks: list[CodeBlock]) -> list[str]:
    """``package.Name`` of each export that no block uses."""
    used = set().union(*(names_used(block.source) for block in blocks))
    return sorted(f"{package}.{name}" for name, package in exports.items() if name not in used)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.label for block in BLOCKS])
async def test_block_runs_as_written(block: CodeBlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MEMORIES_L3_URL", raising=False)
    await run_block(block, {"__name__": "__main__"})


def test_every_exported_class_is_used_in_a_block() -> None:
    exports = exported_names()
    parts = {"compression", "dedup", "cache", "cache.policies", "predictive", "pools", "monitor"}
    assert {f"memories.optimization.{part}" for part in parts} <= set(exports.values())  # the check is not vacuous
    assert undocumented(exports, BLOCKS) == [], "add an example of each to docs/engine.md"


def test_an_export_missing_from_every_block_is_reported() -> None:
    blocks = [CodeBlock(ENGINE_PAGE, 1, "from memories.optimization import CacheManager\nCacheManager()\n")]
    exports = {"CacheManager": "memories.optimization", "Deduplicator": "memories.optimization"}
    assert undocumented(exports, blocks) == ["memories.optimization.Deduplicator"]


def test_an_import_alone_does_not_count_as_use() -> None:
    blocks = [CodeBlock(ENGINE_PAGE, 1, "from memories.optimization import CacheManager\n")]
    assert undocumented({"CacheManager": "memories.optimization"}, blocks) == ["memories.optimization.CacheManager"]
