"""The operator's parsers refuse everything the API server refuses (tests/operator/test_crds.py runs the same
cases against a real kube-apiserver), with the same message for every CEL rule."""

from __future__ import annotations

from typing import Any

import pytest

from memories.errors import ConfigError
from memories.operator.api import parse_cache_policy, parse_compression_profile, parse_memory_pool
from memories.operator.api.crds import CUSTOM_RESOURCES, crd_document
from tests.operator.test_crds import REJECTED_CASES

PARSERS = {
    "CachePolicy": parse_cache_policy,
    "CompressionProfile": parse_compression_profile,
    "MemoryPool": parse_memory_pool,
}


def cel_messages() -> set[str]:
    messages: set[str] = set()

    def collect(schema: Any) -> None:
        if isinstance(schema, dict):
            messages.update(rule["message"] for rule in schema.get("x-kubernetes-validations", []))
            for child in schema.values():
                collect(child)

    for resource in CUSTOM_RESOURCES:
        collect(crd_document(resource))
    return messages


@pytest.mark.parametrize(
    ("document", "message"), [(case[1], case[2]) for case in REJECTED_CASES], ids=[case[0] for case in REJECTED_CASES]
)
def test_a_document_the_api_server_refuses_is_refused_here_too(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PARSERS[document["kind"]](document["spec"])
    rule_messages = [known for known in cel_messages() if known.startswith(message.split(": ")[-1])]
    if rule_messages:
        assert any(known in str(raised.value) for known in rule_messages)
