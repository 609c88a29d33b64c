"""The package's small C extensions: which are in use.

Each compiled module has a pure-Python reference that the package uses instead when the extension was not built
(a source tree never installed) or when ``MEMORIES_PURE_PYTHON=1`` is set, so that the tests can run both.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def load_compiled(name: str) -> ModuleType | None:
    """The compiled module ``name`` (e.g. ``memories.optimization.cache._fences``), or None when it is not built
    or ``MEMORIES_PURE_PYTHON`` is set."""
    if os.environ.get("MEMORIES_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
