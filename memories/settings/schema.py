"""Schemas derived from sections: a CRD's structural OpenAPI v3 schema, or JSON Schema 2020-12.

The two differ where Kubernetes does: int-or-string is ``x-kubernetes-int-or-string`` there and a type list
here; null is ``nullable`` there; CEL rules and list/map markers exist only there; unknown fields are pruned by
the API server but refused by the agent's parser (``additionalProperties: false``).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import Any

from memories.settings.kinds import (
    DURATION_PATTERN,
    OBJECT_NAME_PATTERN,
    QUANTITY_PATTERN,
    SIZE_PATTERN,
    AbsolutePath,
    Boolean,
    Choice,
    Duration,
    Integer,
    KeyRef,
    Kind,
    ListOf,
    MapOf,
    NameRef,
    Quantity,
    Section,
    Size,
    Text,
)
from memories.settings.spec import FieldSpec, Rule, spec_of

Schema = dict[str, Any]

#: Key order of a generated schema node: what the node is, then its constraints, then what is inside it.
_KEY_ORDER = (
    "type",
    "x-kubernetes-int-or-string",
    "format",
    "nullable",
    "description",
    "required",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "maxProperties",
    "default",
    "x-kubernetes-map-type",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
    "additionalProperties",
    "items",
    "properties",
)


class Dialect(enum.Enum):
    """Which schema language to write."""

    KUBERNETES = "kubernetes"
    JSON_SCHEMA = "json-schema"


def crd_schema(cls: type) -> Schema:
    """The structural schema of the section ``cls`` for a CRD's ``openAPIV3Schema``."""
    return section_schema(cls, Dialect.KUBERNETES)


def json_schema(cls: type) -> Schema:
    """The JSON Schema (2020-12 vocabulary, without the ``$schema`` header) of the section ``cls``."""
    return section_schema(cls, Dialect.JSON_SCHEMA)


def section_schema(cls: type, dialect: Dialect, defaults: Mapping[str, object] | None = None) -> Schema:
    """The schema of one section; ``defaults`` are the member defaults of the place it sits in."""
    spec = spec_of(cls)
    schema: Schema = {"type": "object"}
    if spec.doc is not None:
        schema["description"] = spec.doc
    required = [field.name for field in spec.fields if field.required]
    if required:
        schema["required"] = required
    if dialect is Dialect.KUBERNETES:
        schema.update(spec.markers)
        schema.update(_validations(spec.rules))
    else:
        schema["additionalProperties"] = False
    schema["properties"] = {
        field.name: field_schema(field, dialect, (defaults or {}).get(field.name)) for field in spec.fields
    }
    return _ordered(schema)


def field_schema(field: FieldSpec, dialect: Dialect, place_default: object = None) -> Schema:
    """One field's schema: its kind's, with its description, default, nullability and rules."""
    schema = value_schema(field.kind, dialect)
    schema["description"] = field.doc
    if field.published_default:
        schema["default"] = field.default
    elif place_default is not None:
        schema["default"] = place_default
    if field.nullable:
        if dialect is Dialect.KUBERNETES:
            schema["nullable"] = True
        else:
            schema["type"] = [*_as_list(schema["type"]), "null"]
    if dialect is Dialect.KUBERNETES:
        schema.update(_validations(field.rules))
    return _ordered(schema)


@functools.singledispatch
def value_schema(kind: Kind, dialect: Dialect) -> Schema:
    """The schema of a value of ``kind`` (without description or default)."""
    raise TypeError(f"no schema for {type(kind).__name__}")


@value_schema.register
def _(kind: Size, dialect: Dialect) -> Schema:
    if dialect is Dialect.KUBERNETES:
        return {"x-kubernetes-int-or-string": True, "pattern": SIZE_PATTERN, "maxLength": 24, "minimum": 0}
    return {"type": ["integer", "string"], "minimum": 0}


@value_schema.register
def _(kind: Duration, dialect: Dialect) -> Schema:
    if dialect is Dialect.KUBERNETES:
        return {"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}
    return {"type": ["number", "string"], "minimum": 0}


@value_schema.register
def _(kind: Text, dialect: Dialect) -> Schema:
    constraints = {
        "format": kind.format,
        "minLength": kind.min_length,
        "maxLength": kind.max_length,
        "pattern": kind.pattern,
    }
    return {"type": "string", **{key: value for key, value in constraints.items() if value is not None}}


@value_schema.register
def _(kind: AbsolutePath, dialect: Dialect) -> Schema:
    return {"type": "string", "pattern": "^/", "maxLength": kind.max_length}


@value_schema.register
def _(kind: Choice, dialect: Dialect) -> Schema:
    return {"type": "string", "enum": list(kind.values)}


@value_schema.register
def _(kind: Integer, dialect: Dialect) -> Schema:
    constraints = {"format": kind.format, "minimum": kind.minimum, "maximum": kind.maximum}
    return {"type": "integer", **{key: value for key, value in constraints.items() if value is not None}}


@value_schema.register
def _(kind: Boolean, dialect: Dialect) -> Schema:
    return {"type": "boolean"}


@value_schema.register
def _(kind: Quantity, dialect: Dialect) -> Schema:
    if dialect is Dialect.KUBERNETES:
        return {"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN}
    return {"type": ["integer", "string"], "pattern": QUANTITY_PATTERN}


@value_schema.register
def _(kind: ListOf, dialect: Dialect) -> Schema:
    schema: Schema = {
        "type": "array",
        "items": _ordered({**value_schema(kind.item, dialect), "description": kind.item_doc}),
    }
    schema.update((key, value) for key, value in (("minItems", kind.min_items), ("maxItems", kind.max_items)) if value)
    if dialect is Dialect.KUBERNETES and kind.list_type is not None:
        schema["x-kubernetes-list-type"] = kind.list_type
        if kind.map_keys:
            schema["x-kubernetes-list-map-keys"] = list(kind.map_keys)
    return schema


@value_schema.register
def _(kind: MapOf, dialect: Dialect) -> Schema:
    schema: Schema = {
        "type": "object",
        "additionalProperties": _ordered({**value_schema(kind.value, dialect), "description": kind.value_doc}),
    }
    if kind.max_properties is not None:
        schema["maxProperties"] = kind.max_properties
    return schema


@value_schema.register
def _(kind: Section, dialect: Dialect) -> Schema:
    schema = section_schema(kind.cls, dialect, dict(kind.defaults))
    schema.pop("description", None)  # the field that holds the section describes it
    return schema


@value_schema.register
def _(kind: KeyRef, dialect: Dialect) -> Schema:
    key: Schema = {"type": "string", "description": kind.key_doc, "maxLength": 253}
    if kind.key_default is not None:
        key["default"] = kind.key_default
    return _reference_schema(dialect, kind.resource, kind.scope, key)


@value_schema.register
def _(kind: NameRef, dialect: Dialect) -> Schema:
    return _reference_schema(dialect, kind.resource, kind.scope, None)


def _reference_schema(dialect: Dialect, resource: str, scope: str, key: Schema | None) -> Schema:
    name = {
        "type": "string",
        "description": f"Name of a {resource} in {scope}.",
        "pattern": OBJECT_NAME_PATTERN,
        "maxLength": 253,
    }
    properties = {"name": name} if key is None else {"name": name, "key": _ordered(key)}
    required = ["name"] if key is None or "default" in key else ["name", "key"]
    schema: Schema = {"type": "object", "required": required, "properties": properties}
    if dialect is Dialect.JSON_SCHEMA:
        schema["additionalProperties"] = False
    return _ordered(schema)


def _validations(rules: tuple[Rule, ...]) -> Schema:
    """``x-kubernetes-validations`` for the rules that have CEL (Python-only rules have no schema)."""
    written = []
    for rule in rules:
        if rule.cel is None:
            continue
        entry = {"rule": rule.cel, "message": rule.message_for(None)}
        entry.update((key, value) for key, value in (("fieldPath", rule.field), ("reason", rule.reason)) if value)
        written.append(entry)
    return {"x-kubernetes-validations": written} if written else {}


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _ordered(schema: Schema) -> Schema:
    rank = {key: position for position, key in enumerate(_KEY_ORDER)}
    return {key: schema[key] for key in sorted(schema, key=lambda key: rank.get(key, len(rank)))}
