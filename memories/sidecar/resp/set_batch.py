"""A pipeline's run of plain SETs that wait for L3, started together (the write-through SET with ``-P 16``).

When the compiled fast path stops at a plain ``SET key value`` because the cache must wait for L3 before it
acknowledges, :meth:`SetBatches.start` takes the leading run of such SETs of the read as it is
(``_fast.collect_sets``: no Python parse) and starts them with one
:meth:`CacheManager.set_many_then <memories.optimization.cache.manager.CacheManager.set_many_then>`: each SET goes
through the write-through steps in pipeline order, they leave for Redis in one write, and one callback gets all
their replies, in order, once Redis answered the last (no future and its callbacks per batch). The connection
treats the batch as one command in flight that nothing else starts beside
(:meth:`InFlight.start_barrier <memories.sidecar.resp.in_flight.InFlight.start_barrier>`) but further batches of the same pipeline (a pipeline of large values takes several turns); a batch holds each key
once, and none that a batch of the connection still waits for (the batch ends before the SET of such a key, which
waits), so at most one write per key of a connection is in flight, as command by command
(:mod:`memories.sidecar.resp.in_flight`): per-key order does not depend on how Redis Cluster redirections are
retried. Whatever the cache cannot start at once (no L3 connection now, L2's back pressure,
a value too large for a tier, a default ttl or a value size limit) goes the ordinary way, command by command.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from memories.sidecar.resp.error_replies import error_reply
from memories.sidecar.resp.fast_path import CollectSets
from memories.sidecar.resp.protocol import OK
from memories.sidecar.resp.state import RespLimits

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager


class SetBatches:
    """Starts batches of plain SETs on ``cache`` with the compiled ``collect`` (see the module docstring)."""

    __slots__ = ("_cache", "_collect")

    def __init__(self, cache: CacheManager, collect: CollectSets) -> None:
        self._cache = cache
        self._collect = collect

    def start(
        self,
        data: bytes,
        start: int,
        budget: int,
        max_bulk_length: int,
        limits: RespLimits,
        taken: set[str],
        answer: Callable[[bytes], None],
    ) -> tuple[int, int] | None:
        """Start the plain SETs at the beginning of ``data[start:]`` (none past ``budget`` bytes, at least one),
        up to the first whose key is in ``taken``: the keys of the connection's batches in flight, to which this
        batch's keys are added until it is answered.

        Returns ``(offset where they end, how many)``, or None when ``data[start:]`` does not begin with one or
        the cache cannot start them all at once (nothing happened, ``answer`` is never called). Once started,
        ``answer`` is called once, from a later event loop callback (Redis' reply), with every SET's reply in order
        (``+OK`` or the error the SET alone would get). ``budget`` and ``max_bulk_length`` are bytes.
        """
        arguments, consumed = self._collect(
            data, start, budget, max_bulk_length, limits.max_key_length, limits.max_value_size, taken
        )
        if not arguments:
            return None
        keys: list[str] = arguments[0::2]  # type: ignore[assignment]  # collect_sets alternates str and bytes
        values: list[bytes] = arguments[1::2]  # type: ignore[assignment]
        if not self._cache.set_many_then(keys, values, partial(_answer, answer, taken, keys)):
            taken.difference_update(keys)
            return None
        return consumed, len(keys)


def _answer(
    answer: Callable[[bytes], None], taken: set[str], keys: list[str], outcomes: list[Exception | None]
) -> None:
    """Hand on a batch's replies, in order, and free its keys for later batches."""
    taken.difference_update(keys)
    if not any(outcomes):
        answer(OK * len(outcomes))
    else:
        answer(b"".join(OK if error is None else error_reply(error) for error in outcomes))
