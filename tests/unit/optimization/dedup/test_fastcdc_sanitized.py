"""The compiled FastCDC (``_fastcdc.c``) under AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

from pathlib import Path

from tests.compiled_code import needs_compiled
from tests.sanitizers import run_tests_sanitized


@needs_compiled("the compiled chunker")
def test_fastcdc_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = [
        "tests/unit/optimization/dedup/test_fastcdc.py",
        "tests/unit/optimization/dedup/test_chunking.py",
        "tests/unit/optimization/dedup/test_runs.py",  # the run probe (find_runs), streamed and threaded
    ]
    run_tests_sanitized("memories.optimization.dedup._fastcdc", tests, tmp_path)
