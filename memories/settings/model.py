"""Declaring settings: frozen, keyword-only dataclasses whose fields say everything about themselves.

A section is a class decorated with :func:`section`; each field is declared with :func:`setting`, which records
its kind (a size, a choice, a nested section, ...), its description, its default in the form a user writes it
(``"256Mi"``, parsed once into the dataclass default), its wire name (camelCase of the attribute unless given)
and its validation rules. The parsers, the schemas (CRD and JSON Schema), the reference docs and the operator's
rendering all read these declarations, so a setting is written down once.

Instances remember which fields were given (like pydantic's ``model_fields_set``): a parsed section knows what
its document set, and :func:`memories.settings.write.write_section` writes back exactly those.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, dataclass_transform, overload

from memories.settings.kinds import Kind, MapOf, Section
from memories.settings.parse import parse_value
from memories.settings.spec import (
    NO_DEFAULT,
    SET_ATTRIBUTE,
    SPEC_ATTRIBUTE,
    FieldSpec,
    Rule,
    SectionSpec,
    is_section,
    spec_of,
)

_T = TypeVar("_T")
_METADATA_KEY = "memories.settings"


@dataclass(frozen=True, eq=False)
class _Declaration:
    """What :func:`setting` records. ``origin`` identifies the setting across classes that reuse it."""

    kind: Kind | None
    doc: str
    default: object
    name: str | None
    nullable: bool
    env: str | None
    rules: tuple[Rule, ...]
    origin: object


def setting(
    kind: Kind | None = None,
    *,
    doc: str,
    default: Any = NO_DEFAULT,
    name: str | None = None,
    nullable: bool = False,
    env: str | None = None,
    rules: tuple[Rule, ...] = (),
) -> Any:
    """Declare one field of a :func:`section`.

    ``kind`` may be left out for a nested section (taken from the annotation). ``default`` is written as a user
    writes it: ``"256Mi"`` for a size, a mapping of member defaults for a nested section (``{}`` for the
    section's own defaults); None makes the field optional with no published default; leaving it out makes the
    field required. ``nullable`` lets an explicit null through as None (e.g. a port that disables a listener).
    """
    declaration = _Declaration(kind, doc, default, name, nullable, env, rules, origin=object())
    return field(metadata={_METADATA_KEY: declaration})


def like(cls: type, attribute: str, *, default: Any = NO_DEFAULT, doc: str | None = None) -> Any:
    """Reuse the setting ``cls.attribute`` in another section, optionally with another default or description.

    It stays the same setting: the operator's rendering copies it between the two sections.
    """
    original = _declaration(next(f for f in dataclasses.fields(cls) if f.name == attribute))
    changes: dict[str, Any] = {} if default is NO_DEFAULT else {"default": default}
    if doc is not None:
        changes["doc"] = doc
    return field(metadata={_METADATA_KEY: dataclasses.replace(original, **changes)})


@overload
def section(cls: type[_T], /) -> type[_T]: ...
@overload
def section(
    *,
    doc: str | None = None,
    rules: tuple[Rule, ...] = (),
    markers: Mapping[str, object] | None = None,
) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(setting, like))
def section(
    cls: type[_T] | None = None,
    /,
    *,
    doc: str | None = None,
    rules: tuple[Rule, ...] = (),
    markers: Mapping[str, object] | None = None,
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Make ``cls`` a section: a frozen, keyword-only dataclass whose fields are all :func:`setting` s.

    ``doc`` describes the section where no field describes it (a CRD's spec or status); ``rules`` check the
    whole section; ``markers`` are extra keys of its CRD schema (e.g. ``x-kubernetes-map-type``).
    """

    def build(target: type[_T]) -> type[_T]:
        return _build(target, doc, rules, dict(markers or {}))

    return build if cls is None else build(cls)


def exactly_one_of(first: str, second: str, message: str) -> Rule:
    """A section rule: exactly one of the fields ``first`` and ``second`` (attribute names) is set."""
    return Rule(
        message,
        cel=f"has(self.{wire_name(first)}) != has(self.{wire_name(second)})",
        check=lambda section: (getattr(section, first) is None) != (getattr(section, second) is None),
    )


def wire_name(attribute: str) -> str:
    """The camelCase name of a snake_case attribute (``l1_size`` → ``l1Size``)."""
    head, *rest = attribute.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _declaration(declared: dataclasses.Field[Any]) -> _Declaration:
    value = declared.metadata.get(_METADATA_KEY)
    if not isinstance(value, _Declaration):
        raise TypeError(f"{declared.name}: declare section fields with setting()")
    return value


def _build(cls: type[_T], doc: str | None, rules: tuple[Rule, ...], markers: dict[str, object]) -> type[_T]:
    hints = typing.get_type_hints(cls)
    pending: list[tuple[str, _Declaration, Kind]] = []
    for attribute in inspect.get_annotations(cls):
        declared = cls.__dict__.get(attribute)
        if not isinstance(declared, dataclasses.Field):
            raise TypeError(f"{cls.__name__}.{attribute}: declare section fields with setting()")
        declaration = _declaration(declared)
        kind = _kind_of(cls, attribute, declaration, hints[attribute])
        _set_dataclass_default(declared, declaration, kind)
        pending.append((attribute, declaration, kind))
    built = dataclass(frozen=True, kw_only=True)(cls)
    bases = [spec_of(base) for base in reversed(cls.__mro__[1:]) if is_section(base)]
    fields = {spec.attribute: spec for base in bases for spec in base.fields}
    fields.update((attribute, _field_spec(attribute, declaration, kind)) for attribute, declaration, kind in pending)
    ordered = tuple(fields[f.name] for f in dataclasses.fields(cast(Any, built)))
    inherited_rules = tuple(rule for base in bases for rule in base.rules)
    all_markers = {key: value for base in bases for key, value in base.markers.items()} | markers
    spec = SectionSpec(built, doc, ordered, tuple(dict.fromkeys(inherited_rules + rules)), all_markers)
    setattr(built, SPEC_ATTRIBUTE, spec)
    _track_fields_set(built)
    return built


def _kind_of(cls: type, attribute: str, declaration: _Declaration, hint: Any) -> Kind:
    """The declared kind, or a nested section's from the annotation; checks the annotation agrees."""
    where = f"{cls.__name__}.{attribute}"
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    optional = type(None) in members
    base = [member for member in members if member is not type(None)]
    if (declaration.default is None or declaration.nullable) and not optional:
        raise TypeError(f"{where}: optional or nullable, so its annotation must allow None")
    if declaration.kind is None:
        if len(base) != 1 or not is_section(base[0]):
            raise TypeError(f"{where}: give a kind, or annotate a section class")
        defaults = declaration.default if isinstance(declaration.default, Mapping) else {}
        return Section(base[0], tuple(defaults.items()))
    expected = declaration.kind.python_type
    actual = {typing.get_origin(member) or member for member in base}
    accepted = [set(expected) if isinstance(expected, tuple) else {expected}]
    if isinstance(declaration.kind, MapOf):
        accepted.append({Mapping})
    if actual not in accepted:
        raise TypeError(f"{where}: annotated {hint}, but a {type(declaration.kind).__name__} holds {expected}")
    return declaration.kind


def _set_dataclass_default(declared: dataclasses.Field[Any], declaration: _Declaration, kind: Kind) -> None:
    """Turn the wire-form default into the dataclass default (parsed once, here)."""
    if declaration.default is NO_DEFAULT:
        return
    if declaration.default is None:
        declared.default = None
    elif isinstance(kind, Section):
        declared.default_factory = functools.partial(parse_value, kind, {}, "")
    else:
        declared.default = parse_value(kind, declaration.default, f"default of {declared.name}")


def _field_spec(attribute: str, declaration: _Declaration, kind: Kind) -> FieldSpec:
    name = declaration.name or wire_name(attribute)
    if not re.fullmatch(r"[a-z][A-Za-z0-9]*", name):
        raise TypeError(f"{attribute}: wire name {name!r} is not camelCase")
    return FieldSpec(
        attribute=attribute,
        name=name,
        kind=kind,
        doc=declaration.doc,
        default=declaration.default,
        nullable=declaration.nullable,
        env=declaration.env,
        rules=declaration.rules,
        origin=declaration.origin,
    )


def _track_fields_set(cls: type) -> None:
    init = cast(Any, cls).__init__

    @functools.wraps(init)
    def __init__(self: object, **values: Any) -> None:
        init(self, **values)
        object.__setattr__(self, SET_ATTRIBUTE, frozenset(values))

    cls.__init__ = __init__  # type: ignore[misc]
