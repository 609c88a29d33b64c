"""The compiled FastCDC (``_fastcdc.c``) under AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sanitizers import run_tests_sanitized


@pytest.mark.skipif(bool(os.environ.get("MEMORIES_PURE_PYTHON")), reason="the compiled chunker is switched off")
def test_fastcdc_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = [
        "tests/unit/optimization/dedup/test_fastcdc.py",
        "tests/unit/optimization/dedup/test_chunking.py",
    ]
    run_tests_sanitized("memories.optimization.dedup._fastcdc", tests, tmp_path)


@pytest.mark.skipif(bool(os.environ.get("MEMORIES_PURE_PYTHON")), reason="the compiled chunker is switched off")
def test_the_run_probe_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    module = "tests/unit/optimization/dedup/test_runs.py"
    tests = [
        f"{module}::test_the_compiled_probe_finds_the_runs_numpy_finds",
        f"{module}::test_a_run_of_at_least_the_threshold_is_cut_into_pieces",
    ]
    run_tests_sanitized("memories.optimization.dedup._fastcdc", tests, tmp_path)
