"""What a declared section is made of, as the parsers, writers and schema generators read it.

:mod:`memories.settings.model` builds these from the declarations; everything else only reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from memories.settings.kinds import Kind, Section

SPEC_ATTRIBUTE = "__settings__"
SET_ATTRIBUTE = "_fields_set"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: The default of a required field.
NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Rule:
    """A validation rule: CEL for the API server and/or a Python ``check`` for our own parsers.

    A rule sits on a section (its ``self`` is the section) or on one field (``self`` is the field's value).
    Both report ``message`` at the rule's place plus ``field`` (e.g. ``".l2Path"``); ``reason`` is the CEL
    rule's reason (``FieldValueInvalid``, ``FieldValueRequired``, ``FieldValueForbidden``). A Python-only rule
    (no ``cel``) may give ``message`` as a function of the checked value, to quote it.
    """

    message: str | Callable[[Any], str]
    cel: str | None = None
    check: Callable[[Any], bool] | None = None
    field: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.cel is None and self.check is None:
            raise TypeError("a Rule needs cel, check or both")
        if self.cel is not None and not isinstance(self.message, str):
            raise TypeError("a CEL rule's message is fixed text (the API server cannot call Python)")

    def message_for(self, value: object) -> str:
        """The message this rule reports for ``value``."""
        return self.message if isinstance(self.message, str) else self.message(value)


@dataclass(frozen=True)
class FieldSpec:
    """One field of a section.

    ``name`` is the wire (camelCase) name, ``attribute`` the Python one. ``default`` is the wire-form default:
    None means optional (absent = None), :data:`NO_DEFAULT` required. ``env`` names an environment variable
    read when the field is absent. ``origin`` is shared by every field declared from the same setting, so the
    operator's rendering knows which fields of two sections are one setting.
    """

    attribute: str
    name: str
    kind: Kind
    doc: str
    default: object
    nullable: bool
    env: str | None
    rules: tuple[Rule, ...]
    origin: object

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    @property
    def published_default(self) -> bool:
        """True when the schemas carry the default (the API server fills it in)."""
        return self.default is not NO_DEFAULT and self.default is not None and not isinstance(self.kind, Section)


@dataclass(frozen=True)
class SectionSpec:
    """A section: its description, fields, rules and extra CRD markers."""

    cls: type
    doc: str | None
    fields: tuple[FieldSpec, ...]
    rules: tuple[Rule, ...]
    markers: Mapping[str, object]

    def field(self, attribute: str) -> FieldSpec:
        """The field called ``attribute`` (the Python name); raises KeyError when there is none."""
        for spec in self.fields:
            if spec.attribute == attribute:
                return spec
        raise KeyError(f"{self.cls.__name__} has no setting {attribute!r}")


def spec_of(cls: type) -> SectionSpec:
    """The :class:`SectionSpec` of a section class; raises TypeError for any other class."""
    spec = cls.__dict__.get(SPEC_ATTRIBUTE)
    if not isinstance(spec, SectionSpec):
        raise TypeError(f"{cls.__name__} is not a settings section")
    return spec


def is_section(cls: object) -> bool:
    """True for a class declared with :func:`memories.settings.section`."""
    return isinstance(cls, type) and isinstance(cls.__dict__.get(SPEC_ATTRIBUTE), SectionSpec)


def fields_set(instance: object) -> frozenset[str]:
    """The attributes given when ``instance`` was made (by a parser: the fields its document had)."""
    value: frozenset[str] = getattr(instance, SET_ATTRIBUTE)
    return value
