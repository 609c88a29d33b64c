"""The RESP server's compiled GET/SET fast path (``memories/sidecar/resp/_fast.c``) under AddressSanitizer and UndefinedBehaviorSanitizer.

Runs the fast path's differential tests (every command stream answered as the pure-Python path answers it,
fragmented anywhere) and the RESP server's own tests over real sockets with the sanitized build.
"""

from __future__ import annotations

from pathlib import Path

from tests.compiled_code import needs_compiled
from tests.sanitizers import run_tests_sanitized


@needs_compiled("the compiled fast path")
def test_resp_fast_path_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    tests = ["tests/sidecar/test_resp_fast_path.py", "tests/sidecar/test_resp_server.py"]
    run_tests_sanitized("memories.sidecar.resp._fast", tests, tmp_path)
