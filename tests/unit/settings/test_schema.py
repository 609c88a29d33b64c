"""Schemas derived from sections: the CRD dialect and JSON Schema differ only where Kubernetes does."""

from __future__ import annotations

from typing import Any

import pytest

from memories.operator.api.crds import CUSTOM_RESOURCES, crd_document
from memories.settings import Rule, section, setting
from memories.settings.kinds import Duration, Integer, Size
from memories.settings.schema import crd_schema, json_schema
from memories.sidecar.config import config_json_schema
from tests.operator.test_crd_schemas import fields


@section(
    rules=(
        Rule("checked by the API server", cel="self.size > 0", field=".size", reason="FieldValueInvalid"),
        Rule("checked only by our parsers", check=lambda section: True),
    )
)
class Sample:
    size: int = setting(Size(), doc="A size.", default="1Mi")
    wait: float | None = setting(Duration(), doc="A duration.", default=None)
    port: int | None = setting(Integer(minimum=0), doc="A port.", nullable=True, default=1)


def test_sizes_durations_and_nulls_per_dialect() -> None:
    crd, json = crd_schema(Sample)["properties"], json_schema(Sample)["properties"]
    assert crd["size"]["x-kubernetes-int-or-string"] is True and "type" not in crd["size"]
    assert json["size"]["type"] == ["integer", "string"]
    assert crd["wait"]["type"] == "string" and "pattern" in crd["wait"]
    assert json["wait"]["type"] == ["number", "string"]
    assert crd["port"]["nullable"] is True and json["port"]["type"] == ["integer", "null"]
    assert crd["size"]["default"] == json["size"]["default"] == "1Mi"


def test_only_cel_rules_reach_the_crd_and_none_reach_json_schema() -> None:
    assert crd_schema(Sample)["x-kubernetes-validations"] == [
        {
            "rule": "self.size > 0",
            "message": "checked by the API server",
            "fieldPath": ".size",
            "reason": "FieldValueInvalid",
        }
    ]
    assert "x-kubernetes-validations" not in json_schema(Sample)


def test_json_schema_refuses_unknown_fields_and_the_crd_leaves_them_to_pruning() -> None:
    assert json_schema(Sample)["additionalProperties"] is False
    assert "additionalProperties" not in crd_schema(Sample)


@pytest.mark.parametrize(
    "schema",
    [
        config_json_schema(),
        *(crd_document(r)["spec"]["versions"][0]["schema"]["openAPIV3Schema"] for r in CUSTOM_RESOURCES),
    ],
    ids=["sidecar-config", *(resource.kind for resource in CUSTOM_RESOURCES)],
)
def test_every_generated_field_is_described(schema: dict[str, Any]) -> None:
    assert [path for path, child in fields(schema, "") if path != ".metadata" and not child.get("description")] == []
