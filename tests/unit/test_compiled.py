"""Which compiled extensions are in use: a built one unless ``MEMORIES_PURE_PYTHON`` is set, never a missing one."""

from __future__ import annotations

import pytest

from memories.compiled import load_compiled


def test_a_built_extension_is_used_unless_pure_python_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMORIES_PURE_PYTHON", raising=False)
    module = load_compiled("memories.optimization.cache._fences")
    assert module is not None and hasattr(module, "open_writes")
    monkeypatch.setenv("MEMORIES_PURE_PYTHON", "1")
    assert load_compiled("memories.optimization.cache._fences") is None


def test_an_extension_that_was_not_built_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMORIES_PURE_PYTHON", raising=False)
    assert load_compiled("memories.optimization.cache._never_built") is None
