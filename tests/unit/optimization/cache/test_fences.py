"""A fence's state: the compiled ``FenceState`` (``_fences.c``) holds what the pure-Python one holds, refuses what it
refuses, and lets the collector free a cache whose fences were left open; the compiled batch forms refuse what is
not theirs to take. (What the batch forms decide is compared with the key-by-key steps in test_batch_steps.py.)"""

from __future__ import annotations

import gc
from typing import Any, cast

import pytest

from memories.optimization.cache import fences as fences_module
from memories.optimization.cache.fences import Fence, Fences, PythonFenceState, WriteFence
from tests.compiled_code import PURE_PYTHON, needs_compiled

compiled_only = needs_compiled("the compiled code")


def state_types() -> list[Any]:
    if PURE_PYTHON:
        return [PythonFenceState]
    from memories.optimization.cache._fences import FenceState

    return [PythonFenceState, FenceState]


@pytest.mark.parametrize("state_type", state_types())
def test_both_states_hold_the_same_attributes(state_type: Any) -> None:
    owner = Fences()
    state = state_type(owner, "key")
    assert (state._fences, state.key, state.superseded) == (owner, "key", False)
    state.superseded = True
    assert state.superseded is True
    with pytest.raises(AttributeError):
        state.unknown = 1
    keyword = state_type(fences=owner, key="other")
    assert keyword.key == "other"
    with pytest.raises(TypeError):
        state_type(owner)


@compiled_only
def test_the_compiled_state_is_the_base_of_every_fence_and_takes_only_booleans() -> None:
    from memories.optimization.cache._fences import FenceState

    assert issubclass(Fence, FenceState) and issubclass(WriteFence, FenceState)
    fence = Fences().watch_write("k")
    assert gc.is_tracked(fence)
    with pytest.raises(TypeError):
        fence.superseded = 1  # type: ignore[assignment]
    with pytest.raises(AttributeError):
        fence.key = "other"


def _live_fences_objects() -> int:
    return sum(1 for thing in gc.get_objects() if type(thing) is Fences)


def test_fences_left_open_do_not_keep_their_cache_alive() -> None:
    gc.collect()
    before = _live_fences_objects()
    for _ in range(3):
        owner = Fences()
        owner.watch("read").open()
        owner.open_writes(["a", "b", "a"])  # a cycle: owner -> its open dict -> a list -> a fence -> owner
        del owner
    gc.collect()
    assert _live_fences_objects() == before


@compiled_only
def test_the_compiled_batch_forms_refuse_what_is_not_theirs() -> None:
    from memories.optimization.cache import _fences

    owner = Fences()
    open_writes: Any = _fences.open_writes
    close_writes: Any = _fences.close_writes
    with pytest.raises(TypeError):
        open_writes({}, ["k"], dict, owner)  # not a fence type
    with pytest.raises(TypeError):
        open_writes({}, ("k",), WriteFence, owner)
    with pytest.raises(TypeError):
        open_writes({"k": ["not a fence"]}, ["k"], WriteFence, owner)
    with pytest.raises(TypeError):
        open_writes({"k": "not a fence"}, ["k"], WriteFence, owner)
    with pytest.raises(TypeError):
        open_writes({}, ["k"], WriteFence)
    with pytest.raises(TypeError):
        close_writes({}, ["not a fence"])
    with pytest.raises(KeyError):
        close_writes({}, [WriteFence(owner, "never opened")])


@compiled_only
def test_the_compiled_batch_forms_are_the_ones_in_use() -> None:
    from memories.optimization.cache import _fences

    assert fences_module._compiled_open_writes is _fences.open_writes
    assert fences_module._compiled_close_writes is _fences.close_writes
    assert fences_module.FenceState is cast(object, _fences.FenceState)
