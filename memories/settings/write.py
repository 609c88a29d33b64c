"""Writing sections back to documents, and carrying settings from one section into another.

The operator renders the agent's config this way: it builds the agent's typed sections from a CachePolicy's
(:func:`project` copies every setting the two share) and writes them out (:func:`write_section`).
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from memories.settings.kinds import KeyRef, KeyReference, Kind, ListOf, MapOf, NameRef, ObjectReference, Section
from memories.settings.spec import FieldSpec, fields_set, spec_of

_T = TypeVar("_T")


def write_section(instance: object) -> dict[str, Any]:
    """The document of ``instance``: the fields it was given (see :func:`~memories.settings.fields_set`),
    under their wire names, in normalized form (sizes in bytes, durations in seconds). None is written only
    for nullable fields; for the others it means absent."""
    given = fields_set(instance)
    document: dict[str, Any] = {}
    for field in spec_of(type(instance)).fields:
        value = getattr(instance, field.attribute)
        if field.attribute in given and (value is not None or field.nullable):
            document[field.name] = None if value is None else write_value(field.kind, value)
    return document


@functools.singledispatch
def write_value(kind: Kind, value: Any) -> Any:
    """The wire form of one parsed value: scalars are already in it."""
    return value


@write_value.register
def _(kind: ListOf, value: Any) -> Any:
    return [write_value(kind.item, item) for item in value]


@write_value.register
def _(kind: MapOf, value: Any) -> Any:
    return {key: write_value(kind.value, item) for key, item in value.items()}


@write_value.register
def _(kind: Section, value: Any) -> Any:
    return write_section(value)


@write_value.register
def _(kind: KeyRef, value: KeyReference) -> Any:
    return {"name": value.name, "key": value.key}


@write_value.register
def _(kind: NameRef, value: ObjectReference) -> Any:
    return {"name": value.name}


def key_references(instance: object) -> list[tuple[KeyRef, KeyReference]]:
    """Every key reference set in ``instance`` and the sections below it, in declaration order, with its kind."""
    found: list[tuple[KeyRef, KeyReference]] = []
    for field in spec_of(type(instance)).fields:
        value = getattr(instance, field.attribute)
        kind = field.kind.item if isinstance(field.kind, ListOf) else field.kind
        for item in value if isinstance(field.kind, ListOf) and value is not None else (value,):
            if isinstance(kind, KeyRef) and isinstance(item, KeyReference):
                found.append((kind, item))
            elif isinstance(kind, Section) and item is not None:
                found += key_references(item)
    return found


def project(target: type[_T], *sources: object, **values: Any) -> _T:
    """An instance of the section ``target`` holding every setting that ``sources`` set and ``target`` shares.

    Two fields are one setting when they come from the same declaration (inherited, or reused with
    :func:`memories.settings.like`); the first source that set it wins. A shared nested section of another
    class is projected in turn. ``values`` are set last; None among them leaves the field unset.
    """
    chosen: dict[str, Any] = {}
    for field in spec_of(target).fields:
        for source in sources:
            same = _same_setting(source, field)
            if same is not None and same.attribute in fields_set(source):
                chosen[field.attribute] = _projected(field, getattr(source, same.attribute))
                break
    chosen.update((attribute, value) for attribute, value in values.items() if value is not None)
    return target(**chosen)


def _same_setting(source: object, field: FieldSpec) -> FieldSpec | None:
    return next((other for other in spec_of(type(source)).fields if other.origin is field.origin), None)


def _projected(field: FieldSpec, value: Any) -> Any:
    if isinstance(field.kind, Section) and value is not None and type(value) is not field.kind.cls:
        return project(field.kind.cls, value)
    return value
