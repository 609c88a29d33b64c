"""The one error hierarchy of the project.

Catch :class:`MemoriesError` for anything raised on purpose by this package, or one of
its subclasses to react precisely. Errors that describe bad input a caller gave also
derive from :class:`ValueError`, so code written against plain Python conventions
keeps working.
"""

from __future__ import annotations


class MemoriesError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MemoriesError, ValueError):
    """A setting, size, duration or configuration file is invalid.

    The message names the offending field and the value that was given.
    """


class CorruptDataError(MemoriesError, ValueError):
    """Stored or transmitted data failed validation (checksum, framing, truncation).

    Raised instead of ever returning wrong bytes. ``location`` names the chunk, block,
    entry or offset that failed, when known.
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message if location is None else f"{location}: {message}")
        self.location = location


class PoolError(MemoriesError):
    """Base class of object-pool and memory-pool errors."""


class PoolExhausted(PoolError, TimeoutError):
    """No object or block became available within the allowed time."""


class PoolClosed(PoolError):
    """The pool was closed; nothing more can be acquired or allocated."""


class InvalidRelease(PoolError, ValueError):
    """A block or object was released twice, or released to a pool that does not own it."""


class CacheError(MemoriesError):
    """A cache tier failed in a way the caller must know about."""


class ValueTooLarge(CacheError, ValueError):
    """A value exceeds the size that a tier or the whole cache accepts."""


class TierUnavailable(CacheError):
    """A cache tier that an operation needs did not answer (L3's Redis down, unreachable or too slow).

    For a write the outcome is unknown: the value may or may not have been stored. The message names the tier,
    the server and the cause.
    """


class WrongValueType(CacheError, TypeError):
    """An operation needs a value of another kind than the one stored (e.g. INCR of a non-integer)."""


class ModelError(MemoriesError):
    """A predictive model file is missing, malformed or incompatible."""


class ControlPlaneError(MemoriesError):
    """The local Kubernetes control plane (etcd, kube-apiserver) is missing, failed to start or to answer.

    The message says which binary or process failed and where its log is.
    """


class InstallationError(MemoriesError):
    """The installed package lacks what a command needs: a file it should carry, an optional dependency (extra)
    that was not installed, or a clone of the repository (for building images).

    The message names what is missing and the command that installs it.
    """
