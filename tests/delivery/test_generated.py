"""Files derived from the settings models (the CRDs and their chart copies, the agent's JSON Schema, the CRD
reference, the agent's field reference) are what ``scripts/generate`` makes, and say what they come from."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.operator.api.crds import CUSTOM_RESOURCES, crd_document, crd_text
from memories.settings.reference import crd_reference

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "scripts" / "generate"
REFERENCE = REPOSITORY / "docs" / "crd-reference.md"
REGENERATE_HINT = "a generated file is out of date with the models; regenerate: .venv/bin/python scripts/generate"


def spec_field_paths(schema: Mapping[str, Any], path: str = "spec") -> Iterator[str]:
    """Every field path under spec, walked here independently of the generator."""
    yield path
    for name, child in schema.get("properties", {}).items():
        yield from spec_field_paths(child, f"{path}.{name}")
    items = schema.get("items", {})
    for name, child in items.get("properties", {}).items():
        yield from spec_field_paths(child, f"{path}[].{name}")


def validation_messages(schema: Mapping[str, Any]) -> Iterator[str]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield rule["message"]
    for child in schema.get("properties", {}).values():
        yield from validation_messages(child)
    if "items" in schema:
        yield from validation_messages(schema["items"])


def open_api_schemas() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for resource in CUSTOM_RESOURCES:
        yield resource.kind, crd_document(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_regenerating_changes_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr or REGENERATE_HINT


@pytest.mark.parametrize("resource", CUSTOM_RESOURCES, ids=[resource.kind for resource in CUSTOM_RESOURCES])
def test_checked_in_crd_is_the_generated_one_and_says_so(resource: Any) -> None:
    text = (REPOSITORY / "crds" / resource.file_name).read_text(encoding="utf-8")
    assert text == crd_text(resource), REGENERATE_HINT
    assert "do not edit" in text.splitlines()[1]


def test_every_spec_field_of_every_crd_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    missing = [
        f"{kind}: {path}"
        for kind, schema in open_api_schemas()
        for path in spec_field_paths(schema["properties"]["spec"])
        if f"| `{path}` |" not in text
    ]
    assert not missing, f"fields missing from docs/crd-reference.md ({REGENERATE_HINT}): {missing}"


def test_every_validation_message_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    missing = [
        message
        for _, schema in open_api_schemas()
        for message in validation_messages(schema)
        if " ".join(message.split()).replace("|", "\\|") not in text
    ]
    assert not missing, missing


def test_every_kind_has_a_section() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert [kind for kind, _ in open_api_schemas() if f"\n## {kind}\n" not in text] == []


def test_a_changed_description_changes_the_reference() -> None:
    documents = [crd_document(resource) for resource in CUSTOM_RESOURCES]
    changed = copy.deepcopy(documents)
    spec = changed[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    next(iter(spec["properties"].values()))["description"] = "a description nobody wrote"
    assert "a description nobody wrote" in crd_reference(changed, generated_note="")
    assert crd_reference(changed, generated_note="") != crd_reference(documents, generated_note="")


def test_the_crds_load_as_yaml_into_the_documents_they_came_from() -> None:
    for resource in CUSTOM_RESOURCES:
        assert yaml.safe_load(crd_text(resource)) == crd_document(resource)
