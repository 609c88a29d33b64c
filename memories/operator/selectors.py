"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``) evaluated locally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memories.errors import ConfigError


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = str(expression.get("key")), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ConfigError(f"selector.matchExpressions: unknown operator {operator!r}")


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy ``selector``. An empty selector matches nothing (never every pod)."""
    match_labels: Mapping[str, str] = selector.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    return all(labels.get(key) == value for key, value in match_labels.items()) and all(
        _expression_matches(expression, labels) for expression in expressions
    )
