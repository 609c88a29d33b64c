"""Markdown reference pages from schemas: every field with its type, default, constraints and description.

:func:`crd_reference` writes docs/crd-reference.md from CRD documents; :func:`field_table` is the table of one
schema (CRD or JSON Schema), also used for the agent's config in docs/sidecar-config.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Schema = Mapping[str, Any]


def cell(text: object) -> str:
    """Text fit for one Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: object) -> str:
    """A code span for a table cell (backticks inside the text need a longer fence)."""
    body = cell(text)
    fence = "``" if "`" in body else "`"
    return f"{fence}{body}{fence}"


def type_name(schema: Schema) -> str:
    """The field's type as a reader wants it: ``size (int or string)`` for int-or-string fields."""
    types = schema.get("type")
    int_or_string = schema.get("x-kubernetes-int-or-string") or (
        isinstance(types, list) and {"integer", "string"} <= set(types)
    )
    if int_or_string:
        kind = "quantity" if "quantity" in str(schema.get("description", "")).lower() else "size"
        return f"{kind} (int or string)"
    if isinstance(types, list):
        return " or ".join(str(name) for name in types)
    name = str(types or "any")
    if name == "array":
        return f"array of {type_name(schema.get('items', {}))}"
    if name == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return f"map of {type_name(schema['additionalProperties'])}"
    if "format" in schema:
        return f"{name} ({schema['format']})"
    return name


def constraints(schema: Schema) -> str:
    """Enum, pattern and bounds of one field, as short code spans."""
    parts: list[str] = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(code(value) for value in schema["enum"]))
    if "pattern" in schema:
        parts.append("pattern " + code(schema["pattern"]))
    for key, label in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
        ("maxProperties", "keys ≤"),
    ):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    for key in ("items", "additionalProperties"):
        member = schema.get(key)
        if isinstance(member, Mapping) and "properties" not in member and constraints(member):
            parts.append(f"each: {constraints(member)}")
    return "; ".join(parts)


def walk(schema: Schema, path: str, required: bool) -> Iterator[tuple[str, Schema, bool]]:
    """Every field below ``schema`` in document order: (path, schema, required)."""
    yield path, schema, required
    wanted = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name, name in wanted)
    items = schema.get("items")
    if isinstance(items, Mapping) and ("properties" in items or "additionalProperties" in items):
        for name, child in items.get("properties", {}).items():
            yield from walk(child, f"{path}[].{name}", name in set(items.get("required", [])))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping) and "properties" in extra:
        yield from walk(extra, f"{path}.*", False)


def default_text(value: object) -> str:
    """A default as it is written in a manifest (``true``, ``lru``, ``256Mi``)."""
    return value if isinstance(value, str) else json.dumps(value)


def field_table(tops: Sequence[tuple[str, Schema, bool]]) -> list[str]:
    """The field table of the given top-level fields (path, schema, required) and everything below them."""
    lines = [
        "| field | type | required | default | constraints | description |",
        "|---|---|---|---|---|---|",
    ]
    for top, top_schema, top_required in tops:
        for path, schema, required in walk(top_schema, top, top_required):
            default = code(default_text(schema["default"])) if "default" in schema else ""
            lines.append(
                f"| `{path}` | {cell(type_name(schema))} | {'yes' if required else ''} | {default} "
                f"| {constraints(schema)} | {cell(schema.get('description', ''))} |"
            )
    return lines


def validation_rules(schema: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    """Every CEL rule (x-kubernetes-validations) below ``schema``: (path of the field it sits on, rule)."""
    for path_here, field, _ in walk(schema, path, False):
        for rule in field.get("x-kubernetes-validations", []):
            yield path_here, rule
        items = field.get("items")
        if isinstance(items, Mapping):
            for rule in items.get("x-kubernetes-validations", []):
                yield f"{path_here}[]", rule


def _rules_section(root: Schema, kind: str) -> list[str]:
    rules = list(validation_rules(root["properties"]["spec"], "spec")) if "spec" in root.get("properties", {}) else []
    if not rules:
        return []
    lines = [
        "",
        "Validation rules (CEL, checked by the API server on create and update):",
        "",
        "| on | message | reported at | rule |",
        "|---|---|---|---|",
    ]
    for number, (path, rule) in enumerate(rules, start=1):
        reported = path + rule["fieldPath"] if "fieldPath" in rule else path
        lines.append(
            f"| `{path}` | {cell(rule.get('message', ''))} | `{reported}` | [rule {number}](#{kind.lower()}-rule-{number}) |"
        )
    for number, (path, rule) in enumerate(rules, start=1):
        lines += [
            "",
            f'<a id="{kind.lower()}-rule-{number}"></a>Rule {number} on `{path}`:',
            "",
            "```cel",
            " ".join(str(rule["rule"]).split()),
            "```",
        ]
    return lines


def _printer_columns(version: Schema) -> list[str]:
    columns = version.get("additionalPrinterColumns", [])
    if not columns:
        return []
    lines = ["", "`kubectl get` columns (`-o wide` adds those with priority 1):", ""]
    lines += ["| column | from | priority | description |", "|---|---|---|---|"]
    for column in columns:
        lines.append(
            f"| {column['name']} | {code(column['jsonPath'])} | {column.get('priority', 0)} "
            f"| {cell(column.get('description', ''))} |"
        )
    return lines


def _kind_section(crd: Schema) -> list[str]:
    spec = crd["spec"]
    names = spec["names"]
    lines: list[str] = []
    for version in spec["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        properties = root.get("properties", {})
        required = root.get("required", [])
        tops = [(top, properties[top], top in required) for top in ("spec", "status") if top in properties]
        lines += [
            f"## {names['kind']}",
            "",
            f"`{spec['group']}/{version['name']}`, {spec['scope'].lower()}; "
            f"`kubectl get {names['plural']}` (short names: {', '.join(f'`{n}`' for n in names.get('shortNames', []))}; "
            f"categories: {', '.join(f'`{c}`' for c in names.get('categories', []))}).",
            "",
            cell(root.get("description", "")),
            *_printer_columns(version),
            "",
            *field_table(tops),
            *_rules_section(root, names["kind"]),
            "",
        ]
    return lines


def crd_reference(crds: Sequence[Schema], *, generated_note: str) -> str:
    """The whole CRD reference page for these CRD documents; ``generated_note`` says where it comes from."""
    lines = [
        "# CRD reference",
        "",
        f"<!-- {generated_note} -->",
        "",
        "Every field of the memories optimizer's custom resources, generated from the CRD schemas in `crds/`. "
        "Sizes take bytes or a number with a unit (Ki, Mi, Gi, Ti, or the 1024-based KB, MB, GB, TB); "
        "`kubectl explain <kind>.spec` shows the same descriptions from the cluster.",
        "",
        *(f"- [{crd['spec']['names']['kind']}](#{crd['spec']['names']['kind'].lower()})" for crd in crds),
        "",
    ]
    for crd in crds:
        lines += _kind_section(crd)
    return "\n".join(lines).rstrip("\n") + "\n"
