"""State shared by the RESP server and its commands: sessions, limits, counters, batch latency."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from memories.sidecar.resp.protocol import NULL_BULK

#: A handler's reply: the encoded bytes, a coroutine producing them, or a future of them (completed by callbacks:
#: a write through to L3 without a coroutine per command).
Reply = bytes | Coroutine[Any, Any, bytes] | asyncio.Future[bytes]
Handler = Callable[[list[bytes], "RespSession"], Reply]

#: Upper bounds (seconds) of the RESP batch latency histogram buckets (+Inf is implied).
BATCH_LATENCY_BUCKETS_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass
class RespSession:
    """Per-connection state."""

    client_id: int
    #: Null reply of the negotiated protocol: RESP2 null bulk, or RESP3 ``_`` after ``HELLO 3``.
    null: bytes = NULL_BULK
    authenticated: bool = False
    name: bytes | None = None
    closing: bool = False


class LatencyHistogram:
    """A Prometheus-style histogram cheap enough for the RESP hot path (no locks, no labels).

    ``observe`` takes seconds; ``bounds`` are the bucket upper bounds in seconds, increasing.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = BATCH_LATENCY_BUCKETS_SECONDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one counts observations above every bound
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one observation of ``seconds``."""
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, observations ≤ bound)`` per bucket, ending with ``"+Inf"`` (the exposition format)."""
        buckets: list[tuple[str, int]] = []
        total = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


@dataclass
class RespStatistics:
    """Counters the server updates and INFO and /metrics read."""

    started_at: float = field(default_factory=time.time)
    connections_current: int = 0
    connections_total: int = 0
    connections_rejected: int = 0
    protocol_errors: int = 0
    #: Connections closed because their unsent replies exceeded ``server.limits.maxOutputBuffer``.
    output_limit_closes: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    #: Seconds from reading a batch of (pipelined) commands until the last of their replies is queued for writing
    #: (replies are written at the end of the event loop turn).
    batch_latency: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass
class RespLimits:
    """Limits applied to writes (bytes)."""

    max_value_size: int
    max_key_length: int
