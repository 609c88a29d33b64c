"""The compiled encoding of a batch of SETs for L3 (``remote/_encoding.c``) under AddressSanitizer and
UndefinedBehaviorSanitizer: its comparison with the Python reference, with the sanitized build."""

from __future__ import annotations

from pathlib import Path

from tests.compiled_code import needs_compiled
from tests.sanitizers import run_tests_sanitized


@needs_compiled("the compiled encoding")
def test_remote_encoding_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    run_tests_sanitized(
        "memories.optimization.cache.remote._encoding",
        ["tests/unit/optimization/cache/test_remote_encoding.py"],
        tmp_path,
    )
