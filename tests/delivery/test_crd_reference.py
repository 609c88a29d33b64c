"""docs/crd-reference.md is generated from the CRDs by scripts/crd-reference and never drifts from them."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "scripts" / "crd-reference"
REFERENCE = REPOSITORY / "docs" / "crd-reference.md"
CRDS = sorted((REPOSITORY / "crds").glob("optimization.memories.dev_*.yaml"))
REGENERATE_HINT = (
    "docs/crd-reference.md is out of date with crds/; regenerate it: .venv/bin/python scripts/crd-reference"
)


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("crd_reference", str(SCRIPT))
    spec = importlib.util.spec_from_loader("crd_reference", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


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
    for path in CRDS:
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for version in crd["spec"]["versions"]:
            yield crd["spec"]["names"]["kind"], version["schema"]["openAPIV3Schema"]


def test_checked_in_reference_is_what_the_crds_generate() -> None:
    generated = load_script().render(CRDS)
    assert REFERENCE.exists(), REGENERATE_HINT
    assert REFERENCE.read_text(encoding="utf-8") == generated, REGENERATE_HINT


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


def test_a_changed_crd_description_changes_the_reference(tmp_path: Path) -> None:
    changed = tmp_path / CRDS[0].name
    shutil.copy(CRDS[0], changed)
    crd = yaml.safe_load(changed.read_text(encoding="utf-8"))
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    first_field = next(iter(spec["properties"].values()))
    first_field["description"] = "a description nobody wrote"
    changed.write_text(yaml.safe_dump(crd, sort_keys=False), encoding="utf-8")
    reference = load_script().render([changed, *CRDS[1:]])
    assert "a description nobody wrote" in reference
    assert reference != REFERENCE.read_text(encoding="utf-8")


def test_check_mode_accepts_the_checked_in_reference() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr or REGENERATE_HINT
