"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``) evaluated locally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memories.errors import ConfigError
from memories.operator.api.common import LabelRequirement, LabelSelector
from memories.settings.parse import CUSTOM_RESOURCE, parse_section


def _requirement_holds(requirement: LabelRequirement, labels: Mapping[str, str]) -> bool:
    key, values = requirement.key, requirement.values or ()
    if requirement.operator == "In":
        return key in labels and labels[key] in values
    if requirement.operator == "NotIn":
        return key not in labels or labels[key] not in values
    if requirement.operator == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist: the model admits no other operator


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy ``selector``. An empty selector matches nothing (never every pod)."""
    match_labels = selector.match_labels or {}
    requirements = selector.match_expressions or ()
    if not match_labels and not requirements:
        return False
    return all(labels.get(key) == value for key, value in match_labels.items()) and all(
        _requirement_holds(requirement, labels) for requirement in requirements
    )


def raw_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """:func:`selector_matches` for a selector as a custom resource or workload holds it; one that is not a valid
    selector (the API server admits none) matches nothing."""
    try:
        parsed = parse_section(LabelSelector, selector, "selector", CUSTOM_RESOURCE)
    except ConfigError:
        return False
    return selector_matches(parsed, labels)
