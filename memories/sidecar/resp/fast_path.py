"""Loads the RESP server's compiled GET/SET fast path (``_fast.c``) and its SET collector, if it was built.

The extension is built by ``pip install`` (a C compiler is needed once). Without it, for example
when running from a source tree that was never installed, or with ``MEMORIES_PURE_PYTHON=1`` in the
environment, the server answers every command through the pure-Python parser and command table: the
same replies, only slower.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from memories.compiled import load_compiled

logger = logging.getLogger(__name__)

#: ``run(data, start, budget, output_budget, max_bulk_length, max_key_length, max_value_size, get, set, missing,
#: wrong_type, null)`` → ``(replies, consumed, gets, sets, incomplete)``; see ``_fast.c``.
FastRun = Callable[
    [
        bytes,
        int,
        int,
        int,
        int,
        int,
        int,
        Callable[[str], object],
        Callable[[str, bytes], bool],
        object,
        bytes,
        bytes,
    ],
    tuple[bytes, int, int, int, bool],
]

#: ``collect_sets(data, start, budget, max_bulk_length, max_key_length, max_value_size, taken)`` → ``(keys,
#: values, consumed)``; see ``_fast.c``.
CollectSets = Callable[[bytes, int, int, int, int, int, set[str]], tuple[list[str], list[bytes], int]]


def load_fast_run() -> FastRun | None:
    """The compiled ``run`` function, or None (logged at debug level) when the extension is not built or disabled."""
    fast = load_compiled("memories.sidecar.resp._fast")
    if fast is None:
        logger.debug("RESP fast path not built or switched off: using the pure-Python path")
        return None
    run: FastRun = fast.run
    return run


def load_collect_sets() -> CollectSets | None:
    """The compiled ``collect_sets`` function, or None when the extension is not built or disabled."""
    fast = load_compiled("memories.sidecar.resp._fast")
    if fast is None:
        return None
    collect: CollectSets = fast.collect_sets
    return collect
