"""Status conditions per the Kubernetes API conventions (``metav1.Condition``).

``lastTransitionTime`` only moves when a condition's status flips, so repeated reconciles of an
unchanged object write identical conditions (and kopf sees no change to patch).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Condition:
    """One condition as computed by a reconcile; ``reason`` is CamelCase."""

    type: str
    status: bool
    reason: str
    message: str


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    previous: Iterable[Mapping[str, Any]], current: Iterable[Condition], observed_generation: int
) -> list[dict[str, Any]]:
    """Return the ``status.conditions`` list, keeping transition times of unchanged statuses."""
    by_type = {condition.get("type"): condition for condition in previous}
    merged = []
    for condition in current:
        status = "True" if condition.status else "False"
        old = by_type.get(condition.type)
        keep_time = old is not None and old.get("status") == status and old.get("lastTransitionTime")
        merged.append(
            {
                "type": condition.type,
                "status": status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": observed_generation,
                "lastTransitionTime": keep_time or _now(),
            }
        )
    return merged
