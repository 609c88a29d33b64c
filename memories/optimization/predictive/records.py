"""Access records: one request for one key, with its time and optional features.

``normalize_records`` accepts what users naturally have: dicts such as
``{"key": ..., "time": ..., "location": ..., "type": ...}``, tuples or numpy rows
``(key, time[, location, type])``, a 1-D array of keys, or objects with ``key`` / ``time``
attributes. Time is epoch seconds (int/float) or a :class:`datetime.datetime` (naive
values are taken as UTC); a record without time gets its position in the log as time.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy

from memories.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access: ``key`` (str), ``time`` (epoch seconds), optional categories and size in bytes."""

    key: str
    time: float
    location: str | None = None
    type: str | None = None
    size: int | None = None


@dataclass(slots=True)
class AccessColumns:
    """A log of accesses stored column-wise (cheap to slice and to encode for training)."""

    keys: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    locations: list[str | None] = field(default_factory=list)
    types: list[str | None] = field(default_factory=list)
    sizes: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def append(self, record: AccessRecord) -> None:
        """Add one record at the end of the log."""
        self.keys.append(record.key)
        self.times.append(record.time)
        self.locations.append(record.location)
        self.types.append(record.type)
        self.sizes.append(record.size)

    def slice(self, start: int, stop: int) -> AccessColumns:
        """Return records ``start`` up to (not including) ``stop`` as a new log."""
        return AccessColumns(
            self.keys[start:stop],
            self.times[start:stop],
            self.locations[start:stop],
            self.types[start:stop],
            self.sizes[start:stop],
        )

    def records(self) -> Iterator[AccessRecord]:
        """Iterate the log as :class:`AccessRecord` objects."""
        for index, key in enumerate(self.keys):
            yield AccessRecord(key, self.times[index], self.locations[index], self.types[index], self.sizes[index])

    @classmethod
    def from_records(cls, items: Iterable[object]) -> AccessColumns:
        """Normalize ``items`` (see module docstring) into a column-wise log. Raises ConfigError."""
        columns = cls()
        for record in normalize_records(items):
            columns.append(record)
        return columns


def to_epoch_seconds(value: object, *, index: int) -> float:
    """Return ``value`` (epoch seconds or datetime) as float seconds; ConfigError otherwise."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float | numpy.integer | numpy.floating):
        raise ConfigError(f"access record {index}: time must be epoch seconds or a datetime, got {value!r}")
    return float(value)


def _key_text(value: object, *, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, int | numpy.integer) and not isinstance(value, bool):
        return str(int(value))
    raise ConfigError(f"access record {index}: key must be str, bytes or int, got {value!r}")


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_size(value: object, *, index: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | numpy.integer) or int(value) < 0:
        raise ConfigError(f"access record {index}: size must be a non-negative int (bytes), got {value!r}")
    return int(value)


def normalize_record(item: object, *, index: int) -> AccessRecord:
    """Return ``item`` as an :class:`AccessRecord`; ``index`` is its position (default time).

    Raises ConfigError naming the record when it has no key or a field has the wrong type.
    """
    if isinstance(item, AccessRecord):
        return item
    if isinstance(item, str | bytes | int | numpy.integer):
        return AccessRecord(_key_text(item, index=index), float(index))
    if isinstance(item, Mapping):
        if "key" not in item:
            raise ConfigError(f"access record {index}: a dict needs a 'key' entry, got keys {sorted(item)}")
        fields = {name: item.get(name) for name in ("key", "time", "location", "type", "size")}
    elif isinstance(item, tuple | list | numpy.ndarray):
        values = list(item)
        if not values:
            raise ConfigError(f"access record {index}: empty row")
        fields = dict(zip(("key", "time", "location", "type", "size"), values, strict=False))
    elif hasattr(item, "key"):
        fields = {name: getattr(item, name, None) for name in ("key", "time", "location", "type", "size")}
    else:
        raise ConfigError(f"access record {index}: expected a dict, row, key or object with .key, got {item!r}")
    time_value = fields.get("time")
    return AccessRecord(
        key=_key_text(fields["key"], index=index),
        time=float(index) if time_value is None else to_epoch_seconds(time_value, index=index),
        location=_optional_text(fields.get("location")),
        type=_optional_text(fields.get("type")),
        size=_optional_size(fields.get("size"), index=index),
    )


def normalize_records(items: Iterable[object]) -> Iterator[AccessRecord]:
    """Yield each of ``items`` as an :class:`AccessRecord` (lazily). Raises ConfigError."""
    if isinstance(items, str | bytes | Mapping):
        raise ConfigError("access_patterns must be an iterable of records, not a single string or dict")
    for index, item in enumerate(items):
        yield normalize_record(item, index=index)
