"""Label selectors behave as Kubernetes defines them."""

from __future__ import annotations

import pytest

from memories.operator.selectors import raw_selector_matches


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "1"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, {"app": "b"}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": "x"}, False),
        ({}, {"app": "web"}, False),
    ],
)
def test_selector_matches(selector: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert raw_selector_matches(selector, labels) is expected


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "Near"}]},
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchLabels": "a=1"},
    ],
    ids=["unknown-operator", "in-without-values", "labels-not-a-map"],
)
def test_a_selector_the_api_server_would_refuse_matches_nothing(selector: dict[str, object]) -> None:
    assert raw_selector_matches(selector, {"a": "1"}) is False
