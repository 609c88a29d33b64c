"""Parsing documents into sections: one parser for every declared setting, errors that name the field.

Every error is a :class:`~memories.errors.ConfigError` whose message starts with the path of the bad field
(``cache.l1Size: cannot parse size '64XB'; ...``, ``spec.tiers.l3.secretRef.name: required ...``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from memories.errors import ConfigError
from memories.settings.kinds import (
    OBJECT_NAME_PATTERN,
    QUANTITY_PATTERN,
    AbsolutePath,
    Boolean,
    Choice,
    Duration,
    Integer,
    KeyRef,
    KeyReference,
    Kind,
    ListOf,
    MapOf,
    NameRef,
    ObjectReference,
    Quantity,
    Section,
    Size,
    Text,
)
from memories.settings.spec import FieldSpec, Rule, spec_of
from memories.units import parse_duration, parse_size

_T = TypeVar("_T")
_OBJECT_NAME = Text(max_length=253, pattern=OBJECT_NAME_PATTERN, expected="a Kubernetes object name")
_KEY = Text(min_length=1, max_length=253)


@dataclass(frozen=True)
class ParseOptions:
    """How a document is read.

    ``strict`` makes unknown fields errors (the agent's file; CRD specs are pruned by the API server, so unknown
    fields there are ignored). ``server_defaults`` applies published defaults as the API server does, so they
    count as given (a spec read before the API server defaulted it renders the same). ``environ`` is where
    fields declared with ``env=`` look when absent.
    """

    strict: bool = True
    server_defaults: bool = False
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)


#: How the agent's config file is read (its environment is passed in by the loader).
AGENT_FILE = ParseOptions()
#: How a custom resource's spec is read.
CUSTOM_RESOURCE = ParseOptions(strict=False, server_defaults=True)


def parse_section(cls: type[_T], document: object, path: str = "", options: ParseOptions = AGENT_FILE) -> _T:
    """Parse ``document`` (a mapping; None is empty) at ``path`` into an instance of the section ``cls``.

    Raises ConfigError naming the first bad field.
    """
    return _parse_section(cls, document, path, {}, options, nested=False)


@functools.singledispatch
def parse_value(kind: Kind, value: object, path: str, options: ParseOptions = AGENT_FILE) -> Any:
    """Parse one present, non-null ``value`` of ``kind`` at ``path``; raises ConfigError naming ``path``."""
    raise TypeError(f"no parser for {type(kind).__name__}")


def _parse_section(
    cls: type[_T],
    document: object,
    path: str,
    defaults: Mapping[str, object],
    options: ParseOptions,
    *,
    nested: bool,
) -> _T:
    spec = spec_of(cls)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(document).__name__}")
    names = [field.name for field in spec.fields]
    unknown = sorted(str(key) for key in document if key not in names)
    if options.strict and unknown:
        raise ConfigError(f"{_join(path, unknown[0])}: unknown field; expected one of {', '.join(names)}")
    values: dict[str, Any] = {}
    for field in spec.fields:
        where = _join(path, field.name)
        raw = document.get(field.name)
        if raw is None and not (field.nullable and field.name in document):
            raw = _absent_value(field, defaults, options)
            if raw is None:
                if field.required:
                    raise ConfigError(f"{where}: required" + (f" when {path} is set" if nested else ""))
                continue
        values[field.attribute] = None if raw is None else parse_value(field.kind, raw, where, options)
        for rule in field.rules:
            _check(rule, values[field.attribute], where)
    instance = cls(**values)
    for rule in spec.rules:
        _check(rule, instance, path)
    return instance


def _absent_value(field: FieldSpec, defaults: Mapping[str, object], options: ParseOptions) -> object:
    """What an absent field takes before its class default: its environment variable, the default of the place
    its section sits in, or (with server defaults) its published default."""
    if field.env is not None and options.environ.get(field.env):
        return options.environ[field.env]
    if field.name in defaults:
        return defaults[field.name]
    return field.default if options.server_defaults and field.published_default else None


def _check(rule: Rule, value: object, path: str) -> None:
    if rule.check is not None and value is not None and not rule.check(value):
        where = path + (rule.field or "")
        raise ConfigError(f"{where.lstrip('.')}: {rule.message_for(value)}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@parse_value.register
def _(kind: Size, value: object, path: str, options: ParseOptions = AGENT_FILE) -> int | None:
    # parse_size names wrong types itself.
    size = parse_size(cast(Any, value), field=path, allow_zero=not kind.positive)
    return None if size == 0 and kind.off_when_zero else size


@parse_value.register
def _(kind: Duration, value: object, path: str, options: ParseOptions = AGENT_FILE) -> float:
    return parse_duration(cast(Any, value), field=path, allow_zero=not kind.positive)


@parse_value.register
def _(kind: Text, value: object, path: str, options: ParseOptions = AGENT_FILE) -> str:
    if not isinstance(value, str) or (kind.min_length and len(value) < kind.min_length):
        noun = "a non-empty string" if kind.min_length == 1 else "a string"
        if kind.min_length and kind.min_length > 1:
            noun = f"a string of at least {kind.min_length} characters"
        raise ConfigError(f"{path}: expected {noun}, got {value!r}")
    if kind.max_length is not None and len(value) > kind.max_length:
        raise ConfigError(f"{path}: must be at most {kind.max_length} characters, got {len(value)}")
    if kind.pattern is not None and not re.search(kind.pattern, value):
        raise ConfigError(f"{path}: must be {kind.expected or 'text matching ' + kind.pattern}, got {value!r}")
    return value


@parse_value.register
def _(kind: AbsolutePath, value: object, path: str, options: ParseOptions = AGENT_FILE) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{path}: must be an absolute path, got {value!r}")
    if len(value) > kind.max_length:
        raise ConfigError(f"{path}: must be at most {kind.max_length} characters, got {len(value)}")
    return value.rstrip("/") or "/"


@parse_value.register
def _(kind: Choice, value: object, path: str, options: ParseOptions = AGENT_FILE) -> str:
    if not isinstance(value, str) or value not in kind.values:
        raise ConfigError(f"{path}: expected one of {', '.join(kind.values)}, got {value!r}")
    return value


@parse_value.register
def _(kind: Integer, value: object, path: str, options: ParseOptions = AGENT_FILE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    low, high = kind.minimum, kind.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        subject = f"{kind.noun} must be" if kind.noun else "must be"
        if low is not None and high is not None:
            bound = f"between {low} and {high}"
        else:
            bound = f">= {low}" if low is not None else f"<= {high}"
        raise ConfigError(f"{path}: {subject} {bound}, got {value}")
    return value


@parse_value.register
def _(kind: Boolean, value: object, path: str, options: ParseOptions = AGENT_FILE) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    return value


@parse_value.register
def _(kind: Quantity, value: object, path: str, options: ParseOptions = AGENT_FILE) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not re.match(QUANTITY_PATTERN, str(value)):
        raise ConfigError(f"{path}: expected a Kubernetes quantity such as 100m or 512Mi, got {value!r}")
    return value


@parse_value.register
def _(kind: ListOf, value: object, path: str, options: ParseOptions = AGENT_FILE) -> tuple[Any, ...]:
    if not isinstance(value, list) or (kind.min_items == 1 and not value):
        raise ConfigError(f"{path}: expected a {'non-empty ' if kind.min_items == 1 else ''}list, got {value!r}")
    if kind.min_items is not None and len(value) < kind.min_items:
        raise ConfigError(f"{path}: expected at least {kind.min_items} items, got {len(value)}")
    if kind.max_items is not None and len(value) > kind.max_items:
        raise ConfigError(f"{path}: expected at most {kind.max_items} items, got {len(value)}")
    return tuple(parse_value(kind.item, item, f"{path}[{index}]", options) for index, item in enumerate(value))


@parse_value.register
def _(kind: MapOf, value: object, path: str, options: ParseOptions = AGENT_FILE) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    if kind.max_properties is not None and len(value) > kind.max_properties:
        raise ConfigError(f"{path}: expected at most {kind.max_properties} keys, got {len(value)}")
    parsed = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ConfigError(f"{path}: keys must be strings, got {key!r}")
        parsed[key] = parse_value(kind.value, item, f"{path}.{key}", options)
    return parsed


@parse_value.register
def _(kind: Section, value: object, path: str, options: ParseOptions = AGENT_FILE) -> Any:
    return _parse_section(kind.cls, value, path, dict(kind.defaults), options, nested=True)


@parse_value.register
def _(kind: KeyRef, value: object, path: str, options: ParseOptions = AGENT_FILE) -> KeyReference:
    reference = _reference(value, path)
    return KeyReference(
        name=_member(reference, path, "name", _OBJECT_NAME),
        key=_member(reference, path, "key", _KEY, kind.key_default),
    )


@parse_value.register
def _(kind: NameRef, value: object, path: str, options: ParseOptions = AGENT_FILE) -> ObjectReference:
    return ObjectReference(name=_member(_reference(value, path), path, "name", _OBJECT_NAME))


def _reference(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    return value


def _member(reference: Mapping[str, object], path: str, member: str, kind: Text, default: str | None = None) -> str:
    raw = reference.get(member, default)
    if raw is None:
        raise ConfigError(f"{path}.{member}: required when {path} is set")
    return str(parse_value(kind, raw, f"{path}.{member}"))
