"""Block ids in C (``_block_ids.c``) under AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

from pathlib import Path

from tests.compiled_code import needs_compiled
from tests.sanitizers import run_tests_sanitized


@needs_compiled("the compiled block ids")
def test_block_ids_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = ["tests/unit/optimization/dedup/test_block_ids.py", "tests/unit/optimization/dedup/test_deduplicator.py"]
    run_tests_sanitized("memories.optimization.dedup._block_ids", tests, tmp_path)
