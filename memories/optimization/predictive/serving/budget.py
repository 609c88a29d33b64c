"""Token buckets that cap how much prefetching may happen per second."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateBudget:
    """Allows up to ``rate`` units per second with bursts of one second's worth; None = unlimited."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._available = rate or 0.0
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        if self.rate is not None:
            self._available = min(self.rate, self._available + (now - self._updated) * self.rate)
        self._updated = now

    def allows(self, amount: float) -> bool:
        """Whether ``amount`` units are available now (without spending them)."""
        self._refill()
        return self.rate is None or amount <= self._available

    def spend(self, amount: float) -> None:
        """Take ``amount`` units (may go negative: later calls then wait for the refill)."""
        if self.rate is not None:
            self._available -= amount
