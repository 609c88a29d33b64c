"""The plain SETs that wait for L3, started in batches: a pipeline's run of them, and those of every connection
that reads in one turn of the event loop together (the write-through SET, with ``-P 16`` and unpipelined alike).

When the compiled fast path stops at a plain ``SET key value`` because the cache must wait for L3 before it
acknowledges, :meth:`SetBatches.start` takes the leading run of such SETs of the read as it is
(``_fast.collect_sets``: no Python parse) and adds them to the batch of this turn of the event loop, which gathers
the SETs of every connection that started some in this turn, each connection's run in order. At the end of the turn
(a ``call_soon`` callback), or as soon as it holds :data:`BATCH_BYTES` of requests, the whole batch goes to one
:meth:`CacheManager.set_many_then <memories.optimization.cache.manager.CacheManager.set_many_then>`: each SET goes
through the write-through steps in order, and one callback gets all their replies once Redis answered, which hands
each connection its own, in order (no future and its callbacks per SET, one batch's state per turn however many
clients write: unpipelined clients' SETs share it too). The turn's batches leave for Redis together at its end, in
one write per node (:meth:`CacheManager.write_to_l3_now
<memories.optimization.cache.manager.CacheManager.write_to_l3_now>`: not one turn later). A batch holds each key
once: a connection whose SETs touch a key already in this turn's batch starts that batch at once and begins the
next. The connection treats its run as one command in flight that nothing else starts beside
(:meth:`InFlight.start_barrier <memories.sidecar.resp.in_flight.InFlight.start_barrier>`) but further runs of the
same pipeline (a pipeline of large values takes several turns); a run holds each key once, and none that a run of
the connection still waits for (the run ends before the SET of such a key, which waits), so at most one write per
key of a connection is in flight, as command by command (:mod:`memories.sidecar.resp.in_flight`): per-key order does
not depend on how Redis Cluster redirections are retried. When the cache cannot start the batch at once (no L3
connection now, L2's back pressure, a value too large for a tier, a default ttl or a value size limit), its SETs go
one by one through :meth:`CacheManager.set <memories.optimization.cache.manager.CacheManager.set>`, each
connection's in order, with the replies the SET command would give. When starting the batch raises (no memory
left, a defect), every SET of it gets that error as its reply; none waits for a reply that would never come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from memories.event_loops import RunningLoop
from memories.sidecar.resp.error_replies import error_reply
from memories.sidecar.resp.fast_path import CollectSets
from memories.sidecar.resp.protocol import OK, encode_error
from memories.sidecar.resp.state import RespLimits

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager


#: The bytes of SET commands a batch gathers at most before it starts (it starts at once when a run takes it past
#: this): redis-server reads a connection 16 KiB at a time and answers each read in its own turn, so the first runs
#: of a much larger batch would wait many turns of Redis for the replies of the last. Measured on this project's
#: 2-core machine: without a bound, pipelines of 16 SETs of 100 B from 50 clients lost 10 % of their throughput;
#: at 16 KiB, unpipelined 4 KiB SETs lost up to 10 % (many small batches); at 64 KiB neither lost.
BATCH_BYTES = 64 * 1024
#: Gets a connection's replies to its run of SETs, in order, in one bytes object.
Answer = Callable[[bytes], None]
#: The reply to a SET whose outcome the agent did not learn because it is shutting down.
_SHUT_DOWN = encode_error("ERR the agent shut down before L3 answered this SET")


class _Run:
    """One connection's run of SETs in a turn's batch: its replies go to ``answer``; its keys leave ``taken`` (the
    keys of the connection's runs in flight) once answered."""

    __slots__ = ("answer", "keys", "taken", "values")

    def __init__(self, keys: list[str], values: list[bytes], answer: Answer, taken: set[str]) -> None:
        self.keys = keys
        self.values = values
        self.answer = answer
        self.taken = taken

    def replied(self, outcomes: list[Exception | None]) -> None:
        """Hand on the run's replies, in order, and free its keys for later runs of the connection."""
        if not any(outcomes):
            self.stored()
            return
        self.answered(_replies(outcomes))

    def answered(self, replies: list[bytes]) -> None:
        """Hand on the run's encoded ``replies``, in order, and free its keys."""
        self.taken.difference_update(self.keys)
        self.answer(b"".join(replies))

    def stored(self) -> None:
        """:meth:`replied` when every SET of the run was stored."""
        self.taken.difference_update(self.keys)
        self.answer(OK * len(self.keys))


class _Batch:
    """The runs of SETs started in one turn of the event loop, in order, and their keys (each once)."""

    __slots__ = ("keys", "requested", "runs", "values")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: list[bytes] = []
        self.runs: list[_Run] = []
        self.requested = 0  # bytes of the runs' SET commands

    def replied(self, outcomes: list[Exception | None]) -> None:
        """Hand each run its outcomes (those of the whole batch, in order)."""
        if not any(outcomes):  # every SET stored, nearly always: no slice per run
            for run in self.runs:
                run.stored()
            return
        replies = _replies(outcomes)
        start = 0
        for run in self.runs:
            end = start + len(run.keys)
            run.answered(replies[start:end])
            start = end


def _replies(outcomes: list[Exception | None]) -> list[bytes]:
    """The reply of each outcome (``+OK`` for None), each exception encoded once, however many SETs it failed (a
    lost connection, or a batch abandoned): one log record for an unexpected one, not one per SET."""
    encoded: dict[int, bytes] = {}  # id() of each exception: ``outcomes`` keeps them alive meanwhile
    replies: list[bytes] = []
    for error in outcomes:
        if error is None:
            replies.append(OK)
            continue
        reply = encoded.get(id(error))
        if reply is None:
            reply = encoded[id(error)] = error_reply(error)
        replies.append(reply)
    return replies


class SetBatches:
    """Starts batches of plain SETs on ``cache`` with the compiled ``collect``, one per turn of the event loop (see
    the module docstring); one per agent, shared by its connections."""

    __slots__ = ("_batch", "_batch_keys", "_cache", "_collect", "_end_pending", "_loop", "_one_by_one")

    def __init__(self, cache: CacheManager, collect: CollectSets) -> None:
        self._cache = cache
        self._collect = collect
        self._batch: _Batch | None = None  # this turn's, until the end of the turn starts it
        self._batch_keys: set[str] = set()
        self._end_pending = False  # a call of _end_turn is scheduled
        self._one_by_one: set[asyncio.Task[None]] = set()  # runs going through set() (kept referenced)
        #: The loop the batches run in (with unpipelined clients a batch starts about once per SET).
        self._loop = RunningLoop()

    def start(
        self,
        data: bytes,
        start: int,
        budget: int,
        max_bulk_length: int,
        limits: RespLimits,
        taken: set[str],
        answer: Answer,
    ) -> tuple[int, int] | None:
        """Add the plain SETs at the beginning of ``data[start:]`` (none past ``budget`` bytes, at least one), up to
        the first whose key is in ``taken`` (the keys of the connection's runs in flight, to which this run's keys
        are added until it is answered), to this turn's batch.

        Returns ``(offset where they end, how many)``, or None when ``data[start:]`` does not begin with one (nothing
        happened, ``answer`` is never called). Else ``answer`` is called once, from a later event loop callback,
        with every SET's reply in order (``+OK`` or the error the SET alone would get). ``budget`` and
        ``max_bulk_length`` are bytes.
        """
        keys, values, consumed = self._collect(
            data, start, budget, max_bulk_length, limits.max_key_length, limits.max_value_size, taken
        )
        if not keys:
            return None
        batch = self._batch
        if batch is None:
            batch = self._new_batch()
        elif not self._batch_keys.isdisjoint(keys):
            self._start(batch)  # a batch holds each key once: this one goes now, the end of the turn starts the next
            batch = self._new_batch()
        batch.runs.append(_Run(keys, values, answer, taken))
        batch.keys += keys
        batch.values += values
        batch.requested += consumed - start
        if batch.requested >= BATCH_BYTES:
            self._start(batch)  # full: the end of the turn finds no batch, or the next one
        else:
            self._batch_keys.update(keys)
        return consumed, len(keys)

    def _new_batch(self) -> _Batch:
        """A new batch for this turn, started at its end unless it is started before."""
        batch = self._batch = _Batch()
        if not self._end_pending:
            self._end_pending = True
            self._loop().call_soon(self._end_turn)
        return batch

    def _end_turn(self) -> None:
        self._end_pending = False
        batch = self._batch
        if batch is not None:
            self._start(batch)
        self._cache.write_to_l3_now()  # this turn's batches, in one write per node, at once

    def _start(self, batch: _Batch) -> None:
        """Start ``batch`` on the cache, or each of its runs one SET at a time when it cannot start at once."""
        self._batch = None
        self._batch_keys.clear()
        runs = batch.runs
        done = runs[0].replied if len(runs) == 1 else batch.replied
        try:
            if self._cache.set_many_then(batch.keys, batch.values, done):
                return
        except Exception as error:  # no memory left, or a defect: every SET of the batch is told, none waits forever
            self._refuse(runs, error_reply(error))  # (logged there, once, when unexpected)
            return
        loop = self._loop()
        for run in runs:
            task = loop.create_task(self._set_each(run))
            self._one_by_one.add(task)
            task.add_done_callback(self._one_by_one.discard)

    def _refuse(self, runs: list[_Run], reply: bytes) -> None:
        """Answer every SET of ``runs`` with the error ``reply``, from a later callback (as :meth:`start` promises:
        a connection may still be inside it)."""
        loop = self._loop()
        for run in runs:
            loop.call_soon(run.answered, [reply] * len(run.keys))

    def close(self) -> None:
        """Cancel the runs going through :meth:`CacheManager.set
        <memories.optimization.cache.manager.CacheManager.set>` one by one (the agent is stopping): each connection
        gets the replies of the SETs that finished and the shut-down error for the rest."""
        for task in list(self._one_by_one):
            task.cancel()

    async def _set_each(self, run: _Run) -> None:
        """:meth:`CacheManager.set` of each SET of ``run`` in order, then its replies (those the SET command gives)."""
        replies: list[bytes] = []
        try:
            for key, value in zip(run.keys, run.values, strict=True):
                try:
                    await self._cache.set(key, value)
                except Exception as error:
                    replies.append(error_reply(error))
                else:
                    replies.append(OK)
        finally:
            replies += [_SHUT_DOWN] * (len(run.keys) - len(replies))  # cancelled: the agent is stopping
            run.taken.difference_update(run.keys)
            run.answer(b"".join(replies))
