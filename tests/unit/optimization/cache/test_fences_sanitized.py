"""The compiled fences (``_fences.c``) under AddressSanitizer and UndefinedBehaviorSanitizer.

Runs the fences' own tests, the batch forms' comparison with the key-by-key steps, and the write-order property
(L3 executing a key's writes in any order), with the sanitized build.
"""

from __future__ import annotations

from pathlib import Path

from tests.compiled_code import needs_compiled
from tests.sanitizers import run_tests_sanitized


@needs_compiled("the compiled fences")
def test_fence_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = [
        "tests/unit/optimization/cache/test_fences.py",
        "tests/unit/optimization/cache/test_batch_steps.py",
        "tests/unit/optimization/cache/test_write_order.py",
    ]
    run_tests_sanitized("memories.optimization.cache._fences", tests, tmp_path)
