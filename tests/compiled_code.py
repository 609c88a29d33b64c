"""Whether this test run switched the compiled extensions off (``MEMORIES_PURE_PYTHON=1``, the second pass of
``scripts/test``), and the mark of a test that needs them."""

from __future__ import annotations

import os

import pytest

#: The compiled extensions are switched off: their pure-Python fallbacks run instead.
PURE_PYTHON = bool(os.environ.get("MEMORIES_PURE_PYTHON"))


def needs_compiled(what: str) -> pytest.MarkDecorator:
    """Skip the test when the compiled extensions are switched off; ``what`` (e.g. "the compiled order") says
    which one it needs."""
    return pytest.mark.skipif(PURE_PYTHON, reason=f"{what} is switched off (MEMORIES_PURE_PYTHON)")
