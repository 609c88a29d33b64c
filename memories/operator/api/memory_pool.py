"""MemoryPool: a shared-memory arena of fixed-size blocks that the agent serves to the workload.

Its layout and rules are the agent's ``memoryPool`` section's (:class:`memories.sidecar.config.PoolLayout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memories.operator.api.common import Condition, conditions_of
from memories.settings import section, setting
from memories.settings.kinds import Boolean, Integer
from memories.settings.parse import CUSTOM_RESOURCE, parse_section
from memories.sidecar.config.pool import PoolLayout


@section(doc="Desired shape of the pool.")
class MemoryPoolSpec(PoolLayout):
    """``MemoryPool.spec``: block sizes and arena size in bytes, shared with the workload or not."""

    shared: bool = setting(
        Boolean(),
        doc="Mount the arena into the workload's containers too (at /dev/shm/memories), so the application reads "
        "blocks without copying. False keeps it private to the sidecar.",
        default=True,
    )


@section(doc="Observed state, written by the operator.")
class MemoryPoolStatus:
    """``MemoryPool.status`` as the operator writes it."""

    observed_generation: int | None = setting(
        Integer(format="int64"), doc="The metadata.generation this status describes.", default=None
    )
    policies: int | None = setting(
        Integer(format="int32"),
        doc="Number of CachePolicies in the namespace that reference this pool.",
        default=None,
    )
    conditions: tuple[Condition, ...] | None = setting(
        conditions_of(Condition), doc="Current conditions of the pool (Ready, Degraded).", default=None
    )


def parse_memory_pool(spec: Mapping[str, Any]) -> MemoryPoolSpec:
    """Parse a MemoryPool spec as the API server stores it; block sizes must be positive and strictly increasing.

    Raises ConfigError naming the field, also for every rule the API server checks.
    """
    return parse_section(MemoryPoolSpec, spec, "spec", CUSTOM_RESOURCE)
