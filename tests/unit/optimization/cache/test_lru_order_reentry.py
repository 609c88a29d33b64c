"""The compiled LRU order stays sound when Python code runs inside one of its calls and touches it.

A garbage collection can start inside any allocation the order makes (a result list, a ``(key, payload)``
tuple) and run finalizers; a key's ``__hash__``/``__eq__`` and a released key's or payload's ``__del__`` run
Python too. Whatever that code does to the same order, the call answers from a consistent state (or raises
RuntimeError) and never reads or writes outside its arrays: ``test_lru_order_sanitized.py`` runs this file
under AddressSanitizer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from memories.optimization.cache.policies.lru import CompiledLruPolicy, LruPolicy
from tests.compiled_code import needs_compiled

pytestmark = pytest.mark.skipif(LruPolicy is not CompiledLruPolicy, reason="the compiled order is switched off")


class Finalizer:
    """Cyclic garbage whose ``__del__`` calls ``action`` and leaves another such cycle behind.

    With the collection threshold at 1, almost every allocation of a container then collects one, so
    ``action`` runs inside whatever the order is doing, however many allocations it makes first.
    """

    armed = True

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.cycle = self

    def __del__(self) -> None:
        if Finalizer.armed:
            Finalizer(self.action)
            self.action()


@contextmanager
def collections_running(action: Callable[[], None]) -> Iterator[None]:
    """Collect garbage at almost every allocation, each collection calling ``action``."""
    thresholds = gc.get_threshold()
    Finalizer.armed = True
    gc.collect()
    Finalizer(action)
    gc.set_threshold(1)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        Finalizer.armed = False
        gc.collect()


def filled_order(count: int) -> CompiledLruPolicy:
    order = CompiledLruPolicy()
    for index in range(count):
        order[f"key:{index}"] = f"payload {index}"
    return order


def test_items_answers_the_order_as_it_was_when_finalizers_insert_keys() -> None:
    order = filled_order(200)
    expected = [(f"key:{index}", f"payload {index}") for index in range(200)]
    inserted = iter(range(10**6))

    def insert() -> None:  # grows the arrays: they move while items() walks them
        for _ in range(40):
            order.record_insert(f"new:{next(inserted)}")

    with collections_running(insert):
        listed = order.items()
    assert listed == expected
    assert len(order) > 200


def test_items_answers_the_order_as_it_was_when_finalizers_remove_keys() -> None:
    order = filled_order(200)
    expected = [(f"key:{index}", f"payload {index}") for index in range(200)]

    def remove() -> None:
        victim = order.choose_victim()
        if victim is not None:
            order.remove(victim)

    with collections_running(remove):
        listed = order.items()
    assert listed == expected
    assert len(order) < 200


@pytest.mark.parametrize("listing", ["keys", "iter"])
def test_keys_answer_the_order_as_it_was_when_finalizers_change_it(listing: str) -> None:
    order = filled_order(300)
    counter = iter(range(10**6))

    def churn() -> None:
        order.remove(order.choose_victim())
        order.record_insert(f"new:{next(counter)}")

    with collections_running(churn):
        listed = order.keys() if listing == "keys" else iter(order)
    assert list(listed) == [f"key:{index}" for index in range(300)]


def test_a_released_payload_that_touches_the_order_leaves_it_consistent() -> None:
    order = filled_order(50)

    class Payload:
        def __del__(self) -> None:
            for index in range(100):
                order[f"from del:{index}"] = index
            order.pop("key:3", None)

    order["key:1"] = Payload()
    order["key:1"] = "replaced"
    order["key:2"] = Payload()
    del order["key:2"]
    order["key:4"] = Payload()
    order.remove("key:4")
    assert "key:3" not in order and "key:1" in order
    assert len(order) == 47 + 100
    assert order.keys()[-100:] == [f"from del:{index}" for index in range(100)]
    assert order.get("from del:99") == 99


def test_a_released_key_that_touches_the_order_leaves_it_consistent() -> None:
    order = filled_order(20)

    class Key:
        def __hash__(self) -> int:
            return 11

        def __del__(self) -> None:
            for index in range(50):
                order.record_insert(f"from del:{index}")

    order.record_insert(Key())
    order.remove(order.keys()[-1])
    assert len(order) == 70
    order.record_insert(Key())
    assert order.pop(order.keys()[-1]) is None
    assert len(order) == 70
    assert order.keys()[:20] == [f"key:{index}" for index in range(20)]


def test_batch_operations_stay_consistent_when_finalizers_change_the_order_and_the_lists() -> None:
    order = filled_order(300)
    keys = [f"key:{index}" for index in range(0, 300, 2)]
    payloads = [f"new {index}" for index in range(len(keys))]
    counter = iter(range(10**6))

    def churn() -> None:  # grows and shrinks the arrays, and the lists being walked
        order.record_insert(f"churn:{next(counter)}")
        victim = order.choose_victim()
        if victim is not None:
            order.remove(victim)
        if keys:
            keys.pop()
        if payloads:
            payloads.pop(0)

    with collections_running(churn):
        popped = order.pop_many(keys)
        added = order.add_absent(keys, payloads)
    assert all(isinstance(payload, str) and payload.startswith("payload ") for payload in popped)
    assert len(set(popped)) == len(popped)
    assert 0 <= added <= len(keys)
    assert len(order.keys()) == len(order)


def test_a_key_released_inside_a_batch_that_touches_the_order_leaves_it_consistent() -> None:
    order = filled_order(20)
    released: list[str] = []

    class Key:
        """Equal by name; a stored one whose last reference the order drops changes the order from __del__."""

        def __init__(self, name: str, stored: bool) -> None:
            self.name, self.stored = name, stored

        def __hash__(self) -> int:
            return hash(self.name)

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Key) and other.name == self.name

        def __del__(self) -> None:
            if self.stored:
                released.append(self.name)
                order[f"from del:{self.name}"] = self.name
                order.pop("key:5", None)

    assert order.add_absent([Key("a", True), Key("b", True)], ["first", "second"]) == 2
    assert order.add_absent([Key("c", True), Key("a", False)], ["third", "not added"]) == 1  # stops at "a"
    popped = order.pop_many([Key("a", False), Key("b", False), "key:6", Key("c", False)])
    assert released == ["a", "b", "c"]  # each released inside pop_many, as it was removed
    assert popped == ["first", "second", "payload 6", "third"]
    assert "key:5" not in order and "key:6" not in order
    assert order.keys()[-3:] == ["from del:a", "from del:b", "from del:c"]
    assert len(order) == 20 - 2 + 3


def test_a_collected_order_whose_keys_finalize_into_it_is_cleared_safely() -> None:
    """tp_clear releases keys whose finalizers may still reach the order through the cycle."""

    class Key:
        order: CompiledLruPolicy | None = None

        def __del__(self) -> None:
            if self.order is not None:
                self.order.record_insert(f"late:{id(self)}")
                list(self.order.items())

    for _ in range(3):
        order = CompiledLruPolicy()
        for _ in range(100):
            key = Key()
            key.order = order  # a cycle: order -> key -> order
            order[key] = key
        del order, key
        gc.collect()


@needs_compiled("the compiled order")
def test_the_module_under_test_is_the_compiled_one() -> None:
    assert LruPolicy is CompiledLruPolicy
