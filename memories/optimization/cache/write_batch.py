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
(and it is the one Redis has). When taking some replies raises (no memory left, a defect), the batch is abandoned:
every SET not reported failed yet gets that error (its outcome unknown, as when a connection drops), its fences
still open are closed, the replies still to come are ignored, and ``done`` is called at once: no client waits for
an answer that would never come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from memories.optimization.cache.key_guard import KeyGuard

#: Told how the SETs of a batch ended, in their order: None for each acknowledged one, else what set() would raise.
BatchDone = Callable[[list[Exception | None]], None]


class SetBatch:
    """The SETs of one batch that Redis has not answered yet (see the module docstring)."""

    __slots__ = (
        "_cancelled",
        "_costs",
        "_done",
        "_fences",
        "_guard",
        "_keys",
        "_outcomes",
        "_remaining",
        "_settling",
        "_values",
    )

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
        self._keys = keys
        self._values = values
        self._costs = costs
        self._done = done
        self._settling = settling  # tasks acknowledging once L2's back pressure is over (kept referenced)
        self._remaining = len(keys)
        self._outcomes: list[Exception | None] = [None] * len(keys)
        self._fences = guard.open_writes(keys)  # in order: a later SET of a key supersedes an earlier one's fence
        self._cancelled = False

    def cancel(self) -> None:
        """Close every fence and ignore the replies of any SET that was sent after all: the batch was not sent, or
        sending it failed part-way (``done`` is never called; its caller reports the failure)."""
        self._cancelled = True
        for fence in self._fences:
            fence.close()

    def replied(self, indexes: Sequence[int], errors: list[Exception | None]) -> None:
        """Redis answered the SETs ``indexes`` (``errors[i]`` for each: None, stored; else what set() would
        raise)."""
        if self._cancelled:
            return  # (sent by a call that then failed, or abandoned: nothing installs, its fences are closed)
        try:
            self._take_replies(indexes, errors)
        except Exception as failure:  # no memory left, or a defect: the SETs are told, none waits forever
            self._abandon(failure)
            return
        self._remaining -= len(errors)
        if self._remaining:
            return
        if not self._guard.local.settled:
            settling = asyncio.get_running_loop().create_task(self._acknowledge_settled())
            self._settling.add(settling)
            settling.add_done_callback(self._settling.discard)
            return
        self._done(self._outcomes)

    def _take_replies(self, indexes: Sequence[int], errors: list[Exception | None]) -> None:
        """Close the fences of the SETs ``indexes`` and install the values that may become the local copy."""
        guard = self._guard
        fences, values, costs, outcomes = self._fences, self._values, self._costs, self._outcomes
        installs: list[int] | None
        if len(errors) == len(fences) and not any(errors):
            # Every SET answered at once (so ``indexes`` is each one in order: one node's replies come in their
            # order) and stored, nearly always: the batch's own lists serve, no list per step.
            verdicts = guard.close_writes(fences)
            installs = None if all(verdicts) else [index for index, unchanged in enumerate(verdicts) if unchanged]
        else:
            answered = [fences[index] for index in indexes]
            installs = [
                index
                for index, error, unchanged in zip(indexes, errors, guard.close_writes(answered), strict=True)
                if unchanged and error is None
            ]
            for index, error in zip(indexes, errors, strict=True):
                outcomes[index] = error
        if installs is None:
            failures = guard.local.install_many(self._keys, values, costs)
            if any(failures):
                self._outcomes = failures  # what set() would raise to its caller (the rest are None, as before)
        elif installs:
            failures = guard.local.install_many(
                [fences[index].key for index in installs],
                [values[index] for index in installs],
                [costs[index] for index in installs],
            )
            for index, failure in zip(installs, failures, strict=True):
                if failure is not None:
                    outcomes[index] = failure  # what set() would raise to its caller

    def _abandon(self, failure: Exception) -> None:
        """Taking some replies failed part-way: every SET not reported failed yet gets ``failure`` (its outcome is
        unknown, as when a connection drops), every fence still open is closed (the replies still to come are
        ignored), and ``done`` gets the outcomes now."""
        self._cancelled = True
        fences = self._guard.fences
        for fence in self._fences:
            fences.close_if_open(fence)
        self._done([failure if outcome is None else outcome for outcome in self._outcomes])

    async def _acknowledge_settled(self) -> None:
        """Acknowledge once L2's writes waiting in memory are back under their limit, as set() does."""
        try:
            await self._guard.local.settle()
        finally:
            self._done(self._outcomes)  # Redis has the values whatever happens here
