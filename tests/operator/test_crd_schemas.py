"""Static checks of the CRD files (no API server): documentation, names, alignment with the operator's parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from memories.operator import api as specs

CRD_DIRECTORY = Path(__file__).resolve().parents[2] / "crds"
#: Our own CRDs (crds/ also holds third-party ones the operator needs, e.g. kopf peering).
CRD_FILES = sorted(CRD_DIRECTORY.glob("optimization.memories.dev_*.yaml"))
PARSERS = {
    "CachePolicy": specs.parse_cache_policy,
    "MemoryPool": specs.parse_memory_pool,
    "CompressionProfile": specs.parse_compression_profile,
}


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def fields(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, schema) below ``schema``, following properties, items and additionalProperties."""
    for name, child in schema.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from fields(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield f"{path}[{key}]", schema[key]
            yield from fields(schema[key], f"{path}[{key}]")


@pytest.mark.parametrize("path", CRD_FILES, ids=[path.stem for path in CRD_FILES])
def test_every_field_has_a_description(path: Path) -> None:
    schema = load(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    undocumented = [name for name, child in fields(schema, "") if name != ".metadata" and not child.get("description")]
    assert undocumented == []


@pytest.mark.parametrize("path", CRD_FILES, ids=[path.stem for path in CRD_FILES])
def test_file_is_named_after_the_crd(path: Path) -> None:
    crd = load(path)
    assert path.name == f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml"
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
    assert "memories" in crd["spec"]["names"]["categories"]


def test_short_names_are_the_documented_ones() -> None:
    short_names = {load(path)["spec"]["names"]["kind"]: load(path)["spec"]["names"]["shortNames"] for path in CRD_FILES}
    assert short_names == {"CachePolicy": ["cpol"], "MemoryPool": ["mpool"], "CompressionProfile": ["cprof"]}


def test_every_example_parses_with_the_operator_parser() -> None:
    parsed = 0
    for example in sorted((CRD_DIRECTORY / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(example.read_text()):
            if document and document["kind"] in PARSERS:
                PARSERS[document["kind"]](document["spec"])
                parsed += 1
    assert parsed >= 6
