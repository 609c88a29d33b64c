"""The in-memory tier's entries: the compiled ``MemoryEntry`` (``_entry.c``) behaves as the Python one and costs the
cyclic garbage collector nothing, the compiled LRU order leaves a full collection nothing to walk when it holds
no object the collector knows, and the compiled costs of a batch are each entry's cost."""

from __future__ import annotations

import gc
import sys
import time
import weakref
from sys import getsizeof
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.cache.memory_tier import MemoryEntry, MemoryTier, PythonMemoryEntry
from memories.optimization.cache.policies.lru import CompiledLruPolicy, LruPolicy
from tests.compiled_code import needs_compiled

compiled_only = needs_compiled("the compiled code")


def entry_types() -> list[Any]:
    from memories.optimization.cache._entry import MemoryEntry as CompiledMemoryEntry

    return [PythonMemoryEntry, CompiledMemoryEntry]


class Value:
    """A value that can be weakly referenced, to see when an entry lets it go."""


@pytest.mark.parametrize("entry_type", entry_types(), ids=["python", "compiled"])
def test_both_entries_hold_and_update_the_same_attributes(entry_type: Any) -> None:
    entry = entry_type(b"payload", 123, None)
    assert (entry.value, entry.size, entry.expires_at, entry.reads) == (b"payload", 123, None, 0)
    entry.reads += 1
    entry.size = 7
    entry.expires_at = 12.5
    entry.value = "other"
    assert (entry.value, entry.size, entry.expires_at, entry.reads) == ("other", 7, 12.5, 1)
    entry.expires_at = None
    assert entry.expires_at is None
    with pytest.raises(AttributeError):
        entry.unknown = 1
    keyword = entry_type(value=b"v", size=1, expires_at=3.0)
    assert (keyword.value, keyword.size, keyword.expires_at) == (b"v", 1, 3.0)
    mixed = entry_type(b"m", 2, expires_at=None)
    assert (mixed.value, mixed.size, mixed.expires_at, mixed.reads) == (b"m", 2, None, 0)
    del keyword.value  # as with a __slots__ attribute: gone until assigned again
    with pytest.raises(AttributeError):
        _ = keyword.value
    keyword.value = b"again"
    assert keyword.value == b"again"


@pytest.mark.parametrize("entry_type", entry_types(), ids=["python", "compiled"])
def test_an_entry_lets_its_value_go_when_replaced_or_deleted(entry_type: Any) -> None:
    first, second = Value(), Value()
    first_gone, second_gone = weakref.ref(first), weakref.ref(second)
    entry = entry_type(first, 1, None)
    del first
    assert first_gone() is not None
    entry.value = second
    del second
    assert first_gone() is None
    del entry
    assert second_gone() is None  # released at once: no collection needed


@compiled_only
def test_the_compiled_entry_is_invisible_to_the_collector_and_refuses_wrong_arguments() -> None:
    assert MemoryEntry is not PythonMemoryEntry
    assert not gc.is_tracked(MemoryEntry(b"v", 1, None))
    assert gc.is_tracked(PythonMemoryEntry(b"v", 1, None))
    constructor: Any = MemoryEntry
    with pytest.raises(TypeError):
        constructor(b"v")
    with pytest.raises(TypeError):
        constructor(b"v", 1, None, "extra")
    with pytest.raises(TypeError):
        constructor(b"v", 1, None, size=2)  # given twice
    with pytest.raises(TypeError):
        constructor(b"v", 1, None, unknown=2)


@compiled_only
def test_the_compiled_entry_keeps_its_size_as_a_number_not_an_int_object() -> None:
    size = 10**6 + 1  # not a cached small int
    held = sys.getrefcount(size)
    entries: list[Any] = [MemoryEntry(b"v", size, None), MemoryEntry(value=b"v", size=size, expires_at=None)]
    assert sys.getrefcount(size) == held  # no entry holds the object: one allocation less per entry
    assert [entry.size for entry in entries] == [size, size]
    entries[0].size = 7
    assert entries[0].size == 7
    constructor: Any = MemoryEntry
    for wrong in ("12", 1.5, None):
        with pytest.raises(TypeError):
            constructor(b"v", wrong, None)
        with pytest.raises(TypeError):
            entries[0].size = wrong
    with pytest.raises(OverflowError):
        constructor(b"v", 2**64, None)


@compiled_only
def test_a_full_l1_adds_no_object_for_the_collector_to_walk() -> None:
    assert LruPolicy is CompiledLruPolicy
    tier = MemoryTier(64 * 2**20, LruPolicy(), time.monotonic)
    gc.collect()
    tracked_before = len(gc.get_objects())
    for index in range(20_000):
        tier.store(f"key:{index}", b"x" * 100, None if index % 2 else 1e12)
    gc.collect()
    assert len(tier) == 20_000
    assert len(gc.get_objects()) - tracked_before < 200  # was ~20,000: one per entry
    assert gc.get_referents(tier._entries) == [type(tier._entries)]  # nothing to visit in the order


@compiled_only
def test_the_order_still_shows_the_collector_the_objects_it_knows() -> None:
    order: Any = CompiledLruPolicy()
    order["plain"] = b"bytes"
    assert gc.get_referents(order) == [type(order)]
    box = Value()
    order["box"] = box
    assert box in gc.get_referents(order)
    order["box"] = b"replaced"
    assert box not in gc.get_referents(order)
    order["box"] = box
    del order["box"]
    assert gc.get_referents(order) == [type(order)]


@compiled_only
def test_a_cycle_through_the_order_is_still_collected() -> None:
    order: Any = CompiledLruPolicy()
    box = Value()
    box.order = order  # type: ignore[attr-defined]
    order["box"] = box
    order["plain"] = "text"
    box_gone = weakref.ref(box)
    del box, order
    gc.collect()
    assert box_gone() is None


#: Keys of every kind of str CPython stores (ASCII, Latin-1, BMP, astral, lone surrogates as surrogateescape makes).
entry_keys = st.text(st.characters(codec="utf-8") | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF))


@compiled_only
@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(entry_keys, st.binary(max_size=2000)), max_size=10), overhead=st.integers(0, 1000))
def test_the_compiled_costs_are_each_entry_cost(pairs: list[tuple[str, bytes]], overhead: int) -> None:
    from memories.optimization.cache._entry import costs

    keys = [key for key, _value in pairs]
    values = [value for _key, value in pairs]
    for key in keys[::2]:
        key.encode("utf-8", "surrogateescape")  # a str that has been encoded may hold its UTF-8 too
    assert costs(keys, values, overhead) == [getsizeof(key) + getsizeof(value) + overhead for key, value in pairs]
    tier = MemoryTier(1 << 20, LruPolicy(), time.monotonic)
    assert tier.costs(keys, values) == [tier.cost(key, value) for key, value in pairs]


@compiled_only
def test_the_compiled_costs_leave_other_values_to_python_and_refuse_wrong_arguments() -> None:
    from memories.optimization.cache._entry import costs as compiled_costs

    costs: Any = compiled_costs
    assert costs(["k", "l"], [b"v", "not bytes"], 0) is None
    assert costs(["k", b"not a str"], [b"v", b"w"], 0) is None
    tier = MemoryTier(1 << 20, LruPolicy(), time.monotonic)
    assert tier.costs(["k", "l"], [b"v", {"a": 1}]) == [tier.cost("k", b"v"), tier.cost("l", {"a": 1})]
    for arguments in [(["k"], [b"v", b"w"], 0), (("k",), [b"v"], 0), (["k"], [b"v"], "0"), (["k"], [b"v"])]:
        with pytest.raises((TypeError, ValueError)):
            costs(*arguments)
