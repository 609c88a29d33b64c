"""The compiled LRU order (``_lru.c``) and the tier's entries (``_entry.c``) under AddressSanitizer and
UndefinedBehaviorSanitizer.

Runs the order's own tests (the differential ones and the re-entry ones, where finalizers and key methods
call back into the order mid-call), the entries' and the in-memory tier's, which keeps its entries in the order's
payloads.
"""

from __future__ import annotations

from pathlib import Path

from tests.compiled_code import needs_compiled
from tests.sanitizers import run_tests_sanitized


@needs_compiled("the compiled order")
def test_lru_order_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = [
        "tests/unit/optimization/cache/test_lru_order.py",
        "tests/unit/optimization/cache/test_lru_order_reentry.py",
        "tests/unit/optimization/cache/test_memory_tier.py",
        "tests/unit/optimization/cache/test_memory_entry.py",
    ]
    run_tests_sanitized("memories.optimization.cache.policies._lru", tests, tmp_path)


@needs_compiled("the compiled entries")
def test_memory_entry_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = ["tests/unit/optimization/cache/test_memory_entry.py", "tests/unit/optimization/cache/test_memory_tier.py"]
    run_tests_sanitized("memories.optimization.cache._entry", tests, tmp_path)
