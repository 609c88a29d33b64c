"""The one decision of whether a RESP connection reads (memories.sidecar.resp.reading), as a table of states."""

from __future__ import annotations

import itertools

import pytest

from memories.sidecar.resp.reading import Action, ReadingState, decide

HOLDS = ("backlog_full", "writing_paused", "stopping")
#: Commands waiting hold reading back only once a read arrived meanwhile.
WAITING = {"commands_waiting": True, "read_while_waiting": True}

TABLE = [
    # (state, action)
    (ReadingState(), Action.KEEP),  # reading, nothing holds it back
    (ReadingState(reading=False), Action.RESUME),  # the last hold was lifted
    (ReadingState(commands_waiting=True), Action.KEEP),  # a client that waits for its reply is not paused
    (ReadingState(**WAITING), Action.PAUSE),
    (ReadingState(read_while_waiting=True), Action.KEEP),  # nothing waits (the flag is reset on the next settle)
    (ReadingState(backlog_full=True), Action.PAUSE),
    (ReadingState(writing_paused=True), Action.PAUSE),
    (ReadingState(stopping=True), Action.PAUSE),
    (ReadingState(reading=False, **WAITING), Action.KEEP),  # already paused
    (ReadingState(reading=False, commands_waiting=True), Action.RESUME),  # paused before the flag's rule: resumed
    (ReadingState(reading=False, writing_paused=True, **WAITING), Action.KEEP),
    (ReadingState(reading=False, writing_paused=True, stopping=True), Action.KEEP),
    (ReadingState(unsent_over_limit=70_000), Action.ABORT),
    (ReadingState(reading=False, writing_paused=True, unsent_over_limit=70_000), Action.ABORT),
    (ReadingState(closed=True), Action.KEEP),
    (ReadingState(closed=True, reading=False), Action.KEEP),  # a closed connection is not resumed
    (ReadingState(closed=True, **WAITING), Action.KEEP),  # ... nor paused
    (ReadingState(closed=True, unsent_over_limit=70_000), Action.KEEP),  # ... nor aborted twice
]


@pytest.mark.parametrize(("state", "action"), TABLE)
def test_decide_table(state: ReadingState, action: Action) -> None:
    assert decide(state) is action


@pytest.mark.parametrize("reading", [True, False])
def test_a_connection_reads_exactly_when_nothing_holds_it_back(reading: bool) -> None:
    for values in itertools.product([False, True], repeat=len(HOLDS) + 2):
        *holds, waiting, read_meanwhile = values
        state = ReadingState(
            reading=reading,
            commands_waiting=waiting,
            read_while_waiting=read_meanwhile,
            **dict(zip(HOLDS, holds, strict=True)),
        )
        if any(holds) or (waiting and read_meanwhile):
            expected = Action.PAUSE if reading else Action.KEEP
        else:
            expected = Action.KEEP if reading else Action.RESUME
        assert decide(state) is expected, state
