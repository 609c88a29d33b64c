"""The compiled LRU order (``_lru.c``) behaves exactly as the OrderedDict-based PythonLruPolicy."""

from __future__ import annotations

import gc
import sys
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.optimization.cache.policies import POLICIES
from memories.optimization.cache.policies.lru import CompiledLruPolicy, LruPolicy, PythonLruPolicy
from tests.compiled_code import PURE_PYTHON, needs_compiled

# Ints and strs, with hash collisions: hash(-1) == hash(-2) in CPython, and equal-hash strs are rare, so
# small ints (hash(n) == n) collide in the table's low bits a lot.
keys = st.one_of(st.integers(-3, 40), st.sampled_from(["a", "b", "key:1", "key:2", ""]), st.integers(0, 5000))
operations = st.lists(
    st.tuples(
        st.sampled_from(["insert", "prefetch", "access", "replace", "remove", "evict", "victim", "contains"]), keys
    ),
    max_size=400,
)


def apply(policy: PythonLruPolicy | CompiledLruPolicy, operation: str, key: Hashable) -> object:
    """One operation; returns what it returned or the type of the exception it raised."""
    try:
        if operation in ("insert", "prefetch"):
            return policy.record_insert(key, 3, low_priority=operation == "prefetch")
        if operation == "access":
            return policy.record_access(key)
        if operation == "replace":
            return policy.record_replace(key, 7)
        if operation == "remove":
            return policy.remove(key, evicted=True)
        if operation == "evict":
            victim = policy.choose_victim()
            if victim is not None:
                policy.remove(victim, evicted=True)
            return victim
        if operation == "victim":
            return policy.choose_victim()
        return key in policy
    except KeyError as error:
        return KeyError, error.args


@settings(max_examples=300, deadline=None)
@given(steps=operations)
def test_compiled_order_answers_every_operation_like_the_ordered_dict(steps: list[tuple[str, Hashable]]) -> None:
    compiled, reference = CompiledLruPolicy(), PythonLruPolicy()
    for operation, key in steps:
        assert apply(compiled, operation, key) == apply(reference, operation, key), (operation, key)
        assert len(compiled) == len(reference)
    drained = []
    while (victim := compiled.choose_victim()) is not None:
        drained.append(victim)
        compiled.remove(victim)
    assert drained == list(reference._order)


def test_many_keys_grow_and_shrink_the_arrays_keeping_the_order() -> None:
    compiled, reference = CompiledLruPolicy(), PythonLruPolicy()
    for index in range(50_000):
        for policy in (compiled, reference):
            policy.record_insert(f"key:{index}")
    for index in range(0, 50_000, 3):
        for policy in (compiled, reference):
            policy.record_access(f"key:{index}")
    for index in range(0, 49_000):  # leaves few keys: the arrays shrink
        for policy in (compiled, reference):
            policy.remove(f"key:{index}")
    assert compiled.keys() == list(reference._order)
    assert len(compiled) == 1_000


def test_keys_are_released_when_removed_and_when_the_order_goes() -> None:
    class Key:
        def __hash__(self) -> int:
            return 42

    key = Key()
    order = CompiledLruPolicy()
    order.record_insert(key)
    assert sys.getrefcount(key) == 3  # the local, the order, getrefcount's argument
    order.remove(key)
    assert sys.getrefcount(key) == 2
    order.record_insert(key)
    del order
    gc.collect()
    assert sys.getrefcount(key) == 2


def test_a_key_comparison_that_mutates_the_order_is_refused() -> None:
    order = CompiledLruPolicy()

    class Sneaky:
        def __hash__(self) -> int:
            return 7

        def __eq__(self, other: object) -> bool:
            order.remove("other key")
            return False

    order.record_insert("other key")
    order.record_insert(Sneaky())
    with pytest.raises(RuntimeError, match="changed while comparing keys"):
        order.record_insert(Sneaky())


def test_unhashable_keys_and_bad_arguments_raise_like_python() -> None:
    order: Any = CompiledLruPolicy()  # the calls below are wrong on purpose
    with pytest.raises(TypeError):
        order.record_insert([1, 2])
    with pytest.raises(TypeError):
        order.record_insert("k", 1, 2)
    with pytest.raises(TypeError):
        order.remove("k", wrong=True)
    with pytest.raises(KeyError):
        order.record_access("absent")


@needs_compiled("the compiled order")
def test_the_registry_serves_the_compiled_policy() -> None:
    assert LruPolicy is CompiledLruPolicy
    assert POLICIES["lru"] is CompiledLruPolicy
    assert CompiledLruPolicy.name == "lru"
    assert CompiledLruPolicy.entry_overhead_bytes >= PythonLruPolicy.entry_overhead_bytes


@pytest.mark.skipif(not PURE_PYTHON, reason="checks the switched-off configuration")
def test_pure_python_switch_selects_the_ordered_dict_policy() -> None:
    assert LruPolicy is PythonLruPolicy
    assert POLICIES["lru"] is PythonLruPolicy


class ReferenceIndexedOrder:
    """The compiled order's mapping interface, modelled with an OrderedDict (payload None until assigned)."""

    def __init__(self) -> None:
        self.order: OrderedDict[Hashable, object] = OrderedDict()

    def record_insert(self, key: Hashable, size: int = 1, *, low_priority: bool = False) -> None:
        if key not in self.order:
            self.order[key] = None
        self.order.move_to_end(key, last=not low_priority)

    def record_access(self, key: Hashable) -> None:
        self.order.move_to_end(key)

    def record_replace(self, key: Hashable, size: int = 1) -> None:
        self.order.move_to_end(key)

    def remove(self, key: Hashable, *, evicted: bool = False) -> None:
        self.order.pop(key, None)

    def choose_victim(self) -> Hashable | None:
        return next(iter(self.order), None)


mapping_operations = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "insert",
                "prefetch",
                "access",
                "replace",
                "remove",
                "evict",
                "set",
                "get",
                "pop",
                "del",
                "setdefault",
                "warm",
                "pop_many",
                "add_absent",
            ]
        ),
        keys,
        st.integers(0, 3),
    ),
    max_size=300,
)


def apply_mapping(order: Any, reference: bool, operation: str, key: Hashable, payload: int) -> object:
    mapping = order.order if reference else order
    try:
        if operation == "set":
            mapping[key] = f"payload {payload}"
            return None
        if operation == "get":
            return mapping.get(key, "absent")
        if operation == "pop":
            return mapping.pop(key, "absent") if payload % 2 else mapping.pop(key)
        if operation == "del":
            del mapping[key]
            return None
        if operation == "warm":  # a hint to the CPU's caches: changes nothing, whatever the keys
            if not reference:
                mapping.warm_lookups([key, "a", "key:1", -1, (1, 2), key])
            return None
        if operation == "setdefault":
            return mapping.setdefault(key, f"payload {payload}") if payload % 2 else mapping.setdefault(key)
        batch = [key, "a", -1, key, 7][: payload + 2]  # repeats and keys the order may or may not hold
        if operation == "pop_many":
            if reference:
                return [mapping.pop(each) for each in batch if each in mapping]
            return mapping.pop_many(batch)
        if operation == "add_absent":
            payloads = [f"added {index}" for index in range(len(batch))]
            if not reference:
                return mapping.add_absent(batch, payloads)
            added = 0
            for each, added_payload in zip(batch, payloads, strict=True):
                if each in mapping:
                    break
                mapping[each] = added_payload
                added += 1
            return added
    except KeyError as error:
        return KeyError, error.args
    return apply(order, operation, key)


@settings(max_examples=300, deadline=None)
@given(steps=mapping_operations)
def test_mapping_interface_behaves_like_a_dict_inside_the_lru_order(steps: list[tuple[str, Hashable, int]]) -> None:
    compiled, reference = CompiledLruPolicy(), ReferenceIndexedOrder()
    for operation, key, payload in steps:
        expected = apply_mapping(reference, True, operation, key, payload)
        assert apply_mapping(compiled, False, operation, key, payload) == expected, (operation, key)
        assert len(compiled) == len(reference.order)
    assert compiled.items() == list(reference.order.items())
    assert list(compiled) == list(reference.order)


def test_payloads_are_released() -> None:
    payload = object()
    order = CompiledLruPolicy()
    order["k"] = payload
    assert sys.getrefcount(payload) == 3
    order["k"] = None
    assert sys.getrefcount(payload) == 2
    order["k"] = payload
    order.remove("k")
    assert sys.getrefcount(payload) == 2
    order["k"] = payload
    assert order.pop("k") is payload
    assert sys.getrefcount(payload) == 2


def test_batch_operations_take_lists_and_refuse_bad_arguments() -> None:
    order: Any = CompiledLruPolicy()  # the calls below are wrong on purpose
    with pytest.raises(TypeError):
        order.pop_many(("a",))
    with pytest.raises(TypeError):
        order.add_absent(("a",), ["payload"])
    with pytest.raises(TypeError):
        order.add_absent(["a"])
    with pytest.raises(ValueError, match="as many payloads as keys"):
        order.add_absent(["a", "b"], ["payload"])
    with pytest.raises(TypeError):
        order.pop_many([[1, 2]])  # unhashable
    with pytest.raises(TypeError):
        order.add_absent(["ok", [1, 2]], [1, 2])
    assert order.items() == [("ok", 1)]  # added before the unhashable key stopped it
    payload = object()
    assert order.add_absent(["p"], [payload]) == 1
    assert sys.getrefcount(payload) == 3
    assert order.pop_many(["p", "p"]) == [payload]
    assert sys.getrefcount(payload) == 2


def test_warming_lookups_takes_a_list_and_changes_nothing() -> None:
    order = CompiledLruPolicy()
    order.warm_lookups([])
    order.warm_lookups(["absent"])  # an empty order
    for index in range(1000):
        order[f"key:{index}"] = index
    for index in range(0, 1000, 3):
        del order[f"key:{index}"]
    before = order.items()
    order.warm_lookups([f"key:{index}" for index in range(2000)] + [b"bytes", 7, ("a",)])
    assert order.items() == before
    with pytest.raises(TypeError):
        order.warm_lookups(("key:1",))  # type: ignore[arg-type]
