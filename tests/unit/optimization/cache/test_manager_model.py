"""Model-based test: against a dict, the cache never returns a wrong or deleted value and never
exceeds a byte budget, whatever the sequence of operations and the policy."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from memories.optimization.cache import CacheManager

L1_BYTES = 1500
L2_BYTES = 2500
keys = st.sampled_from([f"key-{index}" for index in range(6)])
values = st.binary(max_size=600) | st.text(max_size=100) | st.integers()


class CacheAgainstDict(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp())
        self.model: dict[str, Any] = {}
        self.expiry: dict[str, float] = {}
        self.now = 1_000_000.0
        self.cache: CacheManager | None = None

    def clock(self) -> float:
        return self.now

    def new_cache(self, policy: str) -> CacheManager:
        return CacheManager(L1_BYTES, L2_BYTES, eviction_policy=policy, l2_path=self.directory, clock=self.clock)

    @initialize(policy=st.sampled_from(["lru", "lfu", "s3fifo"]))
    def create(self, policy: str) -> None:
        self.cache = self.new_cache(policy)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @precondition(lambda self: self.cache is not None)
    @rule(key=keys, value=values)
    def set(self, key: str, value: Any) -> None:
        assert self.cache is not None
        self.run(self.cache.set(key, value))
        self.model[key] = value
        self.expiry.pop(key, None)

    @precondition(lambda self: self.cache is not None)
    @rule(key=keys, value=values, ttl=st.integers(1, 20))
    def set_with_ttl(self, key: str, value: Any, ttl: int) -> None:
        assert self.cache is not None
        self.run(self.cache.set(key, value, ttl=ttl))
        self.model[key] = value
        self.expiry[key] = self.now + ttl

    @rule(seconds=st.integers(1, 15))
    def advance_clock(self, seconds: int) -> None:
        self.now += seconds

    @precondition(lambda self: self.cache is not None)
    @rule(key=keys, value=values)
    def prefetch(self, key: str, value: Any) -> None:
        assert self.cache is not None
        if key not in self.model:
            self.run(self.cache.prefetch(key, value))
            self.model[key] = value

    @precondition(lambda self: self.cache is not None)
    @rule(key=keys)
    def get(self, key: str) -> None:
        assert self.cache is not None
        found = self.run(self.cache.get(key))
        assert found is None or (key in self.model and found == self.model[key])
        assert found is None or self.expiry.get(key, float("inf")) > self.now

    @precondition(lambda self: self.cache is not None)
    @rule(key=keys, value=values)
    def get_or_compute(self, key: str, value: Any) -> None:
        assert self.cache is not None
        found = self.run(self.cache.get(key, lambda: value))
        if key in self.model and found != value:
            assert found == self.model[key]
            assert self.expiry.get(key, float("inf")) > self.now
        else:
            self.model[key] = found
            self.expiry.pop(key, None)

    @precondition(lambda self: self.cache is not None)
    @rule(key=keys)
    def delete(self, key: str) -> None:
        assert self.cache is not None
        self.run(self.cache.delete(key))
        self.model.pop(key, None)
        self.expiry.pop(key, None)

    @precondition(lambda self: self.cache is not None)
    @rule()
    def restart(self) -> None:
        assert self.cache is not None
        policy = self.cache.settings.policy_factory().name
        self.run(self.cache.close())
        self.cache = self.new_cache(policy)
        self.model = {key: value for key, value in self.model.items() if isinstance(value, bytes | str | int)}

    @invariant()
    def budgets_hold(self) -> None:
        if self.cache is None:
            return
        tiers = self.cache.stats().tiers
        assert tiers["l1"].bytes_used <= L1_BYTES
        self.run(self.cache.settle())
        l2 = self.cache._local.l2
        assert l2 is not None
        distinct = {key for key, _entry in self.cache._l1.items()} | set(l2._index)
        assert len(self.cache) == len(distinct)  # counted in O(1), each key once
        assert self.bytes_on_disk() <= L2_BYTES
        assert self.cache.stats().tiers["l2"].bytes_used == self.bytes_on_disk() or not self.cache.ready

    def bytes_on_disk(self) -> int:
        return sum(path.stat().st_size for path in self.directory.glob("??/??/*.entry"))

    def teardown(self) -> None:
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)


CacheAgainstDict.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestCacheAgainstDict = pytest.mark.slow(CacheAgainstDict.TestCase)
