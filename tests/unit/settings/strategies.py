"""Hypothesis strategies for documents of any settings section, derived from its declared kinds.

Documents are what a user writes (sizes with units, durations as text); they satisfy each field's own kind but
not necessarily the sections' rules, which the tests filter on by parsing.
"""

from __future__ import annotations

import functools
import string
from typing import Any

from hypothesis import strategies as st

from memories.settings import spec_of
from memories.settings.kinds import (
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

_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)
_WORDS = st.text(string.ascii_letters + string.digits + "-_./", min_size=1, max_size=24)


def documents(cls: type, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Documents of the section ``cls``: required fields always, optional ones sometimes; ``fields`` replace the
    strategies of the fields they name (by wire name), e.g. to draw only selectors that select something."""
    spec = spec_of(cls)
    strategies = {field.name: fields.get(field.name, values(field.kind)) for field in spec.fields}
    required = {field.name: strategies[field.name] for field in spec.fields if field.required}
    optional = {field.name: strategies[field.name] for field in spec.fields if not field.required}
    return st.fixed_dictionaries(required, optional=optional)


@functools.singledispatch
def values(kind: Kind) -> st.SearchStrategy[Any]:
    raise TypeError(f"no strategy for {type(kind).__name__}")


@values.register
def _(kind: Size) -> st.SearchStrategy[Any]:
    low = 1 if kind.positive else 0
    units = st.sampled_from(["", "B", "Ki", "Mi", "Gi", "KB", "MB"])
    return st.one_of(
        st.integers(low, 1 << 40), st.builds(lambda number, unit: f"{number}{unit}", st.integers(low, 4096), units)
    )


@values.register
def _(kind: Duration) -> st.SearchStrategy[Any]:
    low = 1 if kind.positive else 0
    units = st.sampled_from(["ms", "s", "m", "h", "d"])
    return st.builds(lambda number, unit: f"{number}{unit}", st.integers(low, 10_000), units)


@values.register
def _(kind: Text) -> st.SearchStrategy[Any]:
    if kind.pattern is not None:
        return st.from_regex(kind.pattern).filter(lambda text: len(text) <= (kind.max_length or 1 << 16))
    return st.text(
        string.ascii_letters + string.digits + "-._/:",
        min_size=max(1, kind.min_length or 0),
        max_size=min(32, kind.max_length or 32),
    )


@values.register
def _(kind: AbsolutePath) -> st.SearchStrategy[Any]:
    return _WORDS.map(lambda text: "/" + text)


@values.register
def _(kind: Choice) -> st.SearchStrategy[Any]:
    return st.sampled_from(kind.values)


@values.register
def _(kind: Integer) -> st.SearchStrategy[Any]:
    return st.integers(
        -(1 << 20) if kind.minimum is None else kind.minimum, 1 << 20 if kind.maximum is None else kind.maximum
    )


@values.register
def _(kind: Boolean) -> st.SearchStrategy[Any]:
    return st.booleans()


@values.register
def _(kind: Quantity) -> st.SearchStrategy[Any]:
    return st.sampled_from(["100m", "512Mi", 1, "2", "1e3", "1.5Gi"])


@values.register
def _(kind: ListOf) -> st.SearchStrategy[Any]:
    return st.lists(values(kind.item), min_size=kind.min_items or 0, max_size=min(4, kind.max_items or 4))


@values.register
def _(kind: MapOf) -> st.SearchStrategy[Any]:
    return st.dictionaries(_NAMES, values(kind.value), max_size=3)


@values.register
def _(kind: Section) -> st.SearchStrategy[Any]:
    return documents(kind.cls)


@values.register
def _(kind: KeyRef) -> st.SearchStrategy[Any]:
    key = _WORDS if kind.key_default is None else st.one_of(st.none(), _WORDS)
    return st.builds(lambda name, key: {"name": name} | ({} if key is None else {"key": key}), _NAMES, key)


@values.register
def _(kind: NameRef) -> st.SearchStrategy[Any]:
    return st.builds(lambda name: {"name": name}, _NAMES)
