"""Every code block of the seed page (../shared/seed/memory_optimization.rst) runs as written.

The blocks run in order in one namespace, like a reader pasting them into an async REPL, with
small stand-ins for the data and functions the page leaves to the user.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SEED_PAGE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "memory_optimization.rst"


def seed_code_blocks() -> list[str]:
    """Return the python code blocks of the seed page, dedented, in page order."""
    if not SEED_PAGE.is_file():
        pytest.fail(f"the seed page is missing at {SEED_PAGE}; ../shared must sit beside the repository")
    text = SEED_PAGE.read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\s*\n)+)", text)
    return [re.sub(r"^    ", "", block, flags=re.MULTILINE) for block in blocks]


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


def test_seed_page_has_the_expected_blocks() -> None:
    assert len(seed_code_blocks()) == 8


async def test_every_seed_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    namespace = user_stand_ins()
    for number, block in enumerate(seed_code_blocks(), start=1):
        code = compile(block, f"<seed block {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        outcome = eval(code, namespace)
        if outcome is not None:
            await outcome
    printed = capsys.readouterr().out
    assert "Space saved:" in printed
    assert "Memory usage:" in printed
    assert namespace["original"] == namespace["large_dataset"]
    assert await namespace["cache_manager"].get(key="analysis_result") == {"ndvi_mean": 0.42}
    assert namespace["result"] == len(b"payload")  # the object-pool block reuses the name
    namespace["monitor"].stop()
