"""Whether a RESP connection reads requests: its state, and the one function that decides from it.

A connection reads requests unless something holds it back:

- ``commands_waiting`` and ``read_while_waiting``: a command waits on the cache, or parsed requests wait behind
  the commands in flight or for the connection's next turn (:mod:`memories.sidecar.resp.in_flight`), and a read
  arrived meanwhile: from then on nothing more is read until they are all answered. A client that waits for its
  replies before it sends more (redis-benchmark, most clients) is never paused, which saves the two ``epoll_ctl``
  system calls of a pause and a resume per command; one that pipelines behind a waiting command has one read
  queued at most, as before a pause takes effect;
- ``backlog_full``: more than ``MAX_BACKLOG_BYTES`` of requests waited for later turns; it stays set until all
  of them are answered, so a long pipeline is not read and paused again once per turn;
- ``writing_paused``: the transport holds more unsent replies than its high-water mark (asyncio's
  ``pause_writing``): a client that does not read its replies is held back, not buffered for;
- ``stopping``: the server stops (graceful shutdown): commands in flight finish, nothing new is read.

A connection whose unsent replies were measured over ``max_output_buffer`` (``unsent_over_limit``) is aborted,
as redis-server's ``client-output-buffer-limit`` does; a closed one does nothing more.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.Enum):
    """What the connection does to its transport."""

    KEEP = "keep"  # the transport already does what the state asks
    PAUSE = "pause"  # stop reading requests
    RESUME = "resume"  # read requests again
    ABORT = "abort"  # close at once, dropping the unsent replies


@dataclass(slots=True)
class ReadingState:
    """The state of one connection that decides whether it reads (see the module docstring)."""

    reading: bool = True  # whether the transport reads now
    closed: bool = False
    #: Unsent reply bytes last measured over ``max_output_buffer`` (0: not over it).
    unsent_over_limit: int = 0
    commands_waiting: bool = False
    #: A read arrived while commands waited (reset once none waits).
    read_while_waiting: bool = False
    backlog_full: bool = False
    writing_paused: bool = False
    stopping: bool = False


def decide(state: ReadingState) -> Action:
    """The action that brings the transport in line with ``state``."""
    if state.closed:
        return Action.KEEP
    if state.unsent_over_limit:
        return Action.ABORT
    held = (
        (state.commands_waiting and state.read_while_waiting)
        or state.backlog_full
        or state.writing_paused
        or state.stopping
    )
    if held == state.reading:
        return Action.PAUSE if held else Action.RESUME
    return Action.KEEP
