"""Estimates of the memory (bytes) a Python value occupies, for L1's byte budget."""

from __future__ import annotations

import sys

_FLAT_TYPES = frozenset({bytes, str, int, float, bool, bytearray})
MAXIMUM_DEPTH = 8
"""Containers nested deeper than this are counted by their shallow size only."""


def estimate_size(value: object) -> int:
    """Return the approximate bytes ``value`` holds in memory.

    Exact (``sys.getsizeof``) for bytes, str and numbers; data plus header for numpy arrays
    (including views, whose base is kept alive); recursive for dict, list, tuple, set and
    objects with a ``__dict__``. Shared sub-objects are counted once.
    """
    if type(value) in _FLAT_TYPES:
        return sys.getsizeof(value)
    return _size(value, set(), 0)


def is_ndarray(value: object) -> bool:
    """True for a numpy array, without importing numpy (if it is not loaded, no value can be an array)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def _size(value: object, seen: set[int], depth: int) -> int:
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if is_ndarray(value):
        base = getattr(value, "base", None)
        return sys.getsizeof(value) + (_size(base, seen, depth + 1) if is_ndarray(base) else 0)
    size = sys.getsizeof(value)
    if depth >= MAXIMUM_DEPTH or isinstance(value, bytes | str | int | float | bool | bytearray):
        return size
    if isinstance(value, dict):
        return size + sum(_size(k, seen, depth + 1) + _size(v, seen, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return size + sum(_size(item, seen, depth + 1) for item in value)
    attributes = getattr(value, "__dict__", None)
    return size + (_size(attributes, seen, depth + 1) if isinstance(attributes, dict) else 0)
