"""The kinds of value a setting holds, as plain descriptions.

A kind says what a value is (a size, a duration, one of some names, a list of another kind, a nested section,
a key of a Secret) and its constraints (bounds, pattern, length). What is done with a kind lives with the job:
parsing in :mod:`memories.settings.parse`, writing back in :mod:`memories.settings.write`, schemas in
:mod:`memories.settings.schema`. Adding a kind means one class here and one case in each of those three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Sizes as the CRDs accept them (the agent's parser also takes lower case, ``KiB`` and spaces).
SIZE_PATTERN = r"^[0-9]+([.][0-9]+)?(Ki|Mi|Gi|Ti|KB|MB|GB|TB|B)?$"
#: Durations as the CRDs accept them: one or more number-unit pairs, e.g. ``1h30m``.
DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ms|s|m|h|d))+$"
#: A Kubernetes object name (DNS-1123 subdomain).
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A Kubernetes resource quantity (``100m``, ``512Mi``, ``1e3``).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


class Kind:
    """Base of every kind; ``python_type`` is the type parsed values have (checked against annotations)."""

    python_type: Any = object


@dataclass(frozen=True)
class Size(Kind):
    """Bytes: an int, or a number with a 1024-based unit (``64Mi``, ``4KB``). Parsed to int bytes.

    ``positive`` refuses 0; ``off_when_zero`` reads 0 as absent (a tier of size 0 is no tier).
    """

    positive: bool = False
    off_when_zero: bool = False
    python_type = int


@dataclass(frozen=True)
class Duration(Kind):
    """Seconds: a number, or units ms, s, m, h, d (``1h30m``). Parsed to float seconds.

    In a CRD a duration is a string (``30s``); the agent's file also takes plain seconds.
    """

    positive: bool = False
    python_type = float


@dataclass(frozen=True)
class Text(Kind):
    """A string. ``expected`` names what a pattern means in errors (e.g. "an absolute path")."""

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    expected: str | None = None
    #: OpenAPI ``format`` (e.g. "date-time"), documentation only.
    format: str | None = None
    python_type = str


@dataclass(frozen=True)
class AbsolutePath(Kind):
    """An absolute path; trailing slashes are dropped (``/data/`` is ``/data``)."""

    max_length: int = 4096
    python_type = str


@dataclass(frozen=True)
class Choice(Kind):
    """One of ``values`` (exact, case-sensitive strings)."""

    values: tuple[str, ...]
    python_type = str


@dataclass(frozen=True)
class Integer(Kind):
    """A whole number (never a boolean); ``noun`` prefixes bound errors ("port must be between ...")."""

    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None
    noun: str | None = None
    python_type = int


@dataclass(frozen=True)
class Boolean(Kind):
    """``true`` or ``false``, nothing else."""

    python_type = bool


@dataclass(frozen=True)
class Quantity(Kind):
    """A Kubernetes resource quantity, kept as written (an int or a string such as ``512Mi``)."""

    python_type = (int, str)


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of ``item`` values, parsed to a tuple; ``item_doc`` describes one item."""

    item: Kind
    item_doc: str
    min_items: int | None = None
    max_items: int | None = None
    #: ``x-kubernetes-list-type`` in a CRD ("atomic", "map"); None leaves it out.
    list_type: str | None = None
    #: ``x-kubernetes-list-map-keys`` of a ``map`` list.
    map_keys: tuple[str, ...] = ()
    python_type = tuple


@dataclass(frozen=True)
class MapOf(Kind):
    """A mapping from strings to ``value`` values; ``value_doc`` describes one value."""

    value: Kind
    value_doc: str
    max_properties: int | None = None
    python_type = dict


@dataclass(frozen=True)
class Section(Kind):
    """A nested section: an instance of a class declared with :func:`memories.settings.section`."""

    cls: type
    #: Defaults of the section's fields at this place, in wire form (e.g. another port per listener).
    defaults: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class KeyReference:
    """A key of a Secret or ConfigMap in the referring object's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class KeyRef(Kind):
    """A reference to a key of a ``resource`` ("Secret" or "ConfigMap"); parsed to a :class:`KeyReference`.

    ``key_default`` fills a missing key (the API server does the same from the schema default). ``env`` names
    the agent's environment variable that the operator fills from the key (a secretKeyRef or configMapKeyRef);
    the agent's setting that takes the value declares the same variable (``setting(..., env=...)``).
    """

    resource: str
    key_doc: str
    key_default: str | None = None
    env: str | None = None
    #: Where the referenced object lives, as the name's description says it.
    scope: str = "the policy's namespace"
    python_type = KeyReference


@dataclass(frozen=True)
class ObjectReference:
    """A named object in the referring object's namespace."""

    name: str


@dataclass(frozen=True)
class NameRef(Kind):
    """A reference by name to an object of ``resource`` kind; parsed to an :class:`ObjectReference`."""

    resource: str
    scope: str = "the policy's namespace"
    python_type = ObjectReference
