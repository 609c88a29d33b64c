"""Types the three custom resources share: label selectors, resource requirements, conditions."""

from __future__ import annotations

from collections.abc import Mapping

from memories.settings import Rule, section, setting
from memories.settings.kinds import Choice, Integer, ListOf, MapOf, Quantity, Section, Text

#: A condition type (metav1.Condition), optionally prefixed with a DNS subdomain.
_CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@section(
    rules=(
        Rule(
            "values must be non-empty for operators In and NotIn, and empty for Exists and DoesNotExist",
            cel="self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : "
            "!has(self.values) || size(self.values) == 0",
            check=lambda requirement: bool(requirement.values) == (requirement.operator in ("In", "NotIn")),
        ),
    )
)
class LabelRequirement:
    """One label requirement."""

    key: str = setting(Text(max_length=317), doc="Label key the requirement applies to.")
    operator: str = setting(Choice(_SELECTOR_OPERATORS), doc="How the label's value relates to values.")
    values: tuple[str, ...] | None = setting(
        ListOf(Text(max_length=63), item_doc="One label value.", max_items=64, list_type="atomic"),
        doc="Label values for In and NotIn; empty for Exists and DoesNotExist.",
        default=None,
    )


@section(
    rules=(
        Rule(
            "selector must set matchLabels or matchExpressions; an empty selector would match every pod",
            cel="(has(self.matchLabels) && size(self.matchLabels) > 0) || "
            "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
            check=lambda selector: bool(selector.match_labels) or bool(selector.match_expressions),
        ),
    ),
    markers={"x-kubernetes-map-type": "atomic"},
)
class LabelSelector:
    """A Kubernetes label selector (matchLabels and matchExpressions, all of which must hold)."""

    match_labels: Mapping[str, str] | None = setting(
        MapOf(Text(), value_doc="Required value of the label.", max_properties=64),
        doc="Pods must carry every one of these labels with exactly these values.",
        default=None,
    )
    match_expressions: tuple[LabelRequirement, ...] | None = setting(
        ListOf(Section(LabelRequirement), item_doc="One label requirement.", max_items=32, list_type="atomic"),
        doc="Label requirements; all must hold.",
        default=None,
    )


_QUANTITIES = MapOf(Quantity(), value_doc="A Kubernetes quantity.")


@section
class ResourceRequirements:
    """Compute resources of a container (the core ResourceRequirements, requests and limits)."""

    requests: Mapping[str, int | str] | None = setting(
        _QUANTITIES,
        doc="Minimum cpu and memory of the sidecar container, as Kubernetes quantities (e.g. cpu: 100m, memory: "
        "512Mi).",
        default=None,
    )
    limits: Mapping[str, int | str] | None = setting(
        _QUANTITIES,
        doc="Maximum cpu and memory of the sidecar container, as Kubernetes quantities (e.g. cpu: 100m, memory: "
        "512Mi). When memory is omitted the operator derives it from l1Size plus overhead (and the pool when "
        "not shared).",
        default=None,
    )


@section
class Condition:
    """One aspect of the current state (metav1.Condition)."""

    type: str = setting(
        Text(max_length=316, pattern=_CONDITION_TYPE_PATTERN),
        doc="Kind of condition, in CamelCase (Ready, Degraded).",
    )
    status: str = setting(Choice(("True", "False", "Unknown")), doc="Status of the condition.")
    observed_generation: int | None = setting(
        Integer(minimum=0, format="int64"), doc="The metadata.generation the condition was set from.", default=None
    )
    last_transition_time: str = setting(Text(format="date-time"), doc="When the condition last changed status.")
    reason: str = setting(
        Text(min_length=1, max_length=1024, pattern=_CONDITION_REASON_PATTERN),
        doc="Machine-readable reason for the last transition, in CamelCase.",
    )
    message: str = setting(Text(max_length=32768), doc="Human-readable details about the last transition.")


def conditions_of(condition: type) -> ListOf:
    """The ``status.conditions`` list of a kind whose conditions are ``condition`` items (keyed by type)."""
    return ListOf(
        Section(condition),
        item_doc="One aspect of the current state (metav1.Condition).",
        list_type="map",
        map_keys=("type",),
    )
