"""Label selectors behave as Kubernetes defines them."""

from __future__ import annotations

import pytest

from memories.errors import ConfigError
from memories.operator.selectors import selector_matches


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
    assert selector_matches(selector, labels) is expected


def test_unknown_operator_is_an_error() -> None:
    with pytest.raises(ConfigError, match="Near"):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Near"}]}, {"a": "1"})
