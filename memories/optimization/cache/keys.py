"""Cache keys (str, bytes accepted) and the MISSING marker of the synchronous fast path."""

from __future__ import annotations

from typing import Final

Key = str | bytes


class MissingMarker:
    """Type of :attr:`CacheManager.MISSING`."""

    def __repr__(self) -> str:
        return "CacheManager.MISSING"


MISSING: Final = MissingMarker()


def normalize_key(key: Key) -> str:
    """Return ``key`` as str (bytes decoded as UTF-8 with surrogateescape); TypeError otherwise."""
    if type(key) is str:  # the sidecar's compiled fast path and most callers pass str
        return key
    if type(key) is bytes:
        return key.decode("utf-8", "surrogateescape")
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    raise TypeError(f"cache keys are str or bytes, got {type(key).__name__}")
