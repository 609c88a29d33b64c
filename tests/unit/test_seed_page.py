"""Every code block of the seed page (../shared/seed/memory_optimization.rst) runs as written.

The blocks run in order in one namespace, like a reader pasting them into an async REPL, with
small stand-ins for the data and functions the page leaves to the user. The page lies outside the
repository: without ``../shared`` (a user's clone) these tests are skipped, saying so, while the
project's own reference, docs/engine.md, runs always (tests/unit/test_engine_page.py).
``MEMORIES_SEED_PAGE`` points at another copy of the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.doc_blocks import CodeBlock, rst_python_blocks, run_block

REPOSITORY = Path(__file__).resolve().parents[2]
SEED_PAGE_VARIABLE = "MEMORIES_SEED_PAGE"
DEFAULT_SEED_PAGE = REPOSITORY.parent / "shared" / "seed" / "memory_optimization.rst"


@pytest.fixture
def seed_blocks() -> list[CodeBlock]:
    """The python blocks of the seed page, in page order; skips the test when the page is absent."""
    page = Path(os.environ.get(SEED_PAGE_VARIABLE) or DEFAULT_SEED_PAGE)
    if not page.is_file():
        pytest.skip(
            f"../shared/seed/memory_optimization.rst is absent (looked at {page}): the seed page's blocks run "
            f"only when ../shared sits beside the repository; docs/engine.md's blocks run regardless"
        )
    return rst_python_blocks(page)


class ExpensiveObject:
    """Stand-in for the page's ``create_expensive_object``: something with an async ``process``."""

    async def process(self, data: bytes) -> int:
        return len(data)


def user_stand_ins() -> dict[str, Any]:
    generator = np.random.default_rng(3)
    satellite = (generator.random((64, 64, 5)) * 4000).astype(np.uint16)

    async def compute_analysis() -> dict[str, float]:
        return {"ndvi_mean": 0.42}

    return {
        "large_dataset": b"".join(f"record {index},value {index % 97}\n".encode() for index in range(50_000)),
        "satellite_imagery": [satellite, satellite[::-1].copy()],
        "input_data": b"block-of-data-" * 10_000,
        "compute_analysis": compute_analysis,
        "historical_patterns": [
            {
                "key": f"tile-{index % 7}",
                "time": 1_700_000_000 + index * 60,
                "location": f"region-{index % 3}",
                "type": "ndvi" if index % 2 else "rgb",
            }
            for index in range(400)
        ],
        "create_expensive_object": ExpensiveObject,
        "data": b"payload",
    }


def test_seed_page_has_the_expected_blocks(seed_blocks: list[CodeBlock]) -> None:
    assert len(seed_blocks) == 8


async def test_every_seed_block_runs_as_written(
    seed_blocks: list[CodeBlock], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    namespace = user_stand_ins()
    for block in seed_blocks:
        await run_block(block, namespace)
    printed = capsys.readouterr().out
    assert "Space saved:" in printed
    assert "Memory usage:" in printed
    assert namespace["original"] == namespace["large_dataset"]
    assert await namespace["cache_manager"].get(key="analysis_result") == {"ndvi_mean": 0.42}
    assert namespace["result"] == len(b"payload")  # the object-pool block reuses the name
    namespace["monitor"].stop()


def test_without_the_seed_page_its_tests_are_skipped_with_the_reason(tmp_path: Path) -> None:
    environment = dict(os.environ, **{SEED_PAGE_VARIABLE: str(tmp_path / "shared" / "absent.rst")})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", __file__, "-k", "not skipped_with"],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout, result.stdout
    assert result.stdout.count("../shared/seed/memory_optimization.rst is absent") == 2, result.stdout
