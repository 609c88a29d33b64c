"""A batch of plain SETs of one pipeline that wait for L3 together (the sidecar's pipelined write-through SET).

:meth:`SharedWrites.set_many_then <memories.optimization.cache.writes.SharedWrites.set_many_then>` takes each SET
through the same steps as :meth:`~memories.optimization.cache.writes.SharedWrites.set_then`, in pipeline order:
drop the key's local copies and open a fence, then queue its ``SET`` on the node's connection (so a whole pipeline
leaves in one write to Redis). :class:`SetBatch` keeps the batch's state in one object instead of a future and a
chain of callbacks per SET: as the replies of a node's SETs arrive (together, once the last of them is in; in
order per node, so in order per key) it closes each SET's fence and installs the value as the local copy unless
something newer happened meanwhile (an invalidation that arrived between two of the replies supersedes the
fence), and once every SET has its reply it reports the outcomes, in order, to ``done``. Two SETs of one key in a
batch: the second one's drop supersedes the first one's fence, so only the last value can become the local copy
(and it is the one Redis has).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from memories.optimization.cache.fences import WriteFence
from memories.optimization.cache.key_guard import KeyGuard

#: Told how the SETs of a batch ended, in their order: None for each acknowledged one, else what set() would raise.
BatchDone = Callable[[list[Exception | None]], None]


class SetBatch:
    """The SETs of one batch that Redis has not answered yet (see the module docstring)."""

    __slots__ = ("_costs", "_done", "_fences", "_guard", "_outcomes", "_remaining", "_settling", "_values")

    def __init__(
        self,
        guard: KeyGuard,
        keys: list[str],
        values: list[bytes],
        costs: list[int],
        done: BatchDone,
        settling: set[asyncio.Task[None]],
    ) -> None:
        self._guard = guard
        self._values = values
        self._costs = costs
        self._done = done
        self._settling = settling  # tasks acknowledging once L2's back pressure is over (kept referenced)
        self._remaining = len(keys)
        self._outcomes: list[Exception | None] = [None] * len(keys)
        discard, watch = guard.discard, guard.fences.watch_write
        fences: list[WriteFence] = []
        for key in keys:  # in order: a later SET of the same key supersedes the fence of an earlier one
            discard(key)
            fences.append(watch(key).open())
        self._fences = fences

    def cancel(self) -> None:
        """Close every fence: the batch was not sent (nothing was written)."""
        for fence in self._fences:
            fence.close()

    def replied(self, indexes: Sequence[int], errors: list[Exception | None]) -> None:
        """Redis answered the SETs ``indexes`` (``errors[i]`` for each: None, stored; else what set() would
        raise)."""
        guard = self._guard
        may_install, install = guard.may_install_write, guard.local.install
        fences, values, costs, outcomes = self._fences, self._values, self._costs, self._outcomes
        for index, error in zip(indexes, errors, strict=True):
            fence = fences[index]
            installs = error is None and may_install(fence)
            fence.close()
            if installs:
                try:
                    install(fence.key, values[index], None, cost=costs[index])
                except Exception as failure:  # what set() would raise to its caller
                    error = failure
            outcomes[index] = error
        self._remaining -= len(errors)
        if self._remaining:
            return
        if not guard.local.settled:
            settling = asyncio.get_running_loop().create_task(self._acknowledge_settled())
            self._settling.add(settling)
            settling.add_done_callback(self._settling.discard)
            return
        self._done(self._outcomes)

    async def _acknowledge_settled(self) -> None:
        """Acknowledge once L2's writes waiting in memory are back under their limit, as set() does."""
        try:
            await self._guard.local.settle()
        finally:
            self._done(self._outcomes)  # Redis has the values whatever happens here
