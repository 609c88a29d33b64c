"""A small validator for the OpenAPI document's JSON schemas (the subset our spec uses)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


@cache
def openapi() -> dict[str, Any]:
    """The parsed ``memories/sidecar/openapi.yaml``."""
    text = resources.files("memories.sidecar").joinpath("openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = openapi()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def schema_errors(value: object, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Where ``value`` violates ``schema`` (empty when valid)."""
    schema = _resolve(schema)
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        matches = any(
            isinstance(value, _TYPES[name]) and not (name in ("integer", "number") and isinstance(value, bool))
            for name in names
        )
        if not matches:
            return [f"{path}: expected {names}, got {type(value).__name__}"]
    if isinstance(value, dict):
        errors += [f"{path}.{key}: missing" for key in schema.get("required", []) if key not in value]
        for key, child in schema.get("properties", {}).items():
            if key in value:
                errors += schema_errors(value[key], child, f"{path}.{key}")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} < minimum {schema['minimum']}")
    return errors


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema the spec declares for a response, None when it declares no JSON body.

    Raises KeyError when the spec does not document this status for this operation.
    """
    operation = openapi()["paths"][path][method.lower()]
    response = _resolve(operation["responses"][str(status)])
    content = response.get("content", {})
    json_body = content.get("application/json")
    return None if json_body is None else json_body["schema"]
