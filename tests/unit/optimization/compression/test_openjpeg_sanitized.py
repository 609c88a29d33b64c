"""The compiled OpenJPEG encoder under AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

from pathlib import Path

from tests.sanitizers import run_tests_sanitized


def test_encoder_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = ["tests/unit/optimization/compression/test_jpeg2000_encoder.py"]
    run_tests_sanitized("memories.optimization.compression._openjpeg", tests, tmp_path)
