"""The exceptions a store raises: one class per kind of error of the contract (CONTRACT.md, section 8).

Each has a ``code`` naming its kind as the other bindings spell it (``"NOT_FOUND"``, ...). Arguments of
the wrong Python type raise ``TypeError``, as everywhere in Python; values of the right type that the
store refuses, ints out of their range included, raise ``InvalidArgumentError`` (README.md has the table).
"""

from __future__ import annotations


class JetstateError(Exception):
    """Base class of every error the store raises.

    ``retryable``: the failure is transient and wrote nothing (a lock held past the busy timeout, a
    serialization failure, a lost connection, a server restarting): the same call may succeed if made
    again. ``outcome_unknown``: the call may have been written after all (its commit's answer was
    lost); never retryable.
    """

    code: str = "JETSTATE"
    retryable: bool = False
    outcome_unknown: bool = False


class NotFoundError(JetstateError, LookupError):
    """The execution, item, workflow or tenant does not exist (or is another tenant's)."""

    code = "NOT_FOUND"


class SequenceConflictError(JetstateError):
    """An appended event's sequence is already used in that execution."""

    code = "SEQUENCE_CONFLICT"


class ConflictError(JetstateError):
    """A create of an id that exists."""

    code = "CONFLICT"


class LeaseLostError(JetstateError):
    """A fenced call (or a renewal) whose lease is no longer the current one."""

    code = "LEASE_LOST"


class InvalidArgumentError(JetstateError, ValueError):
    """Input the store refuses: a malformed id, a non-object state for a patch, a bad option."""

    code = "INVALID_ARGUMENT"


class DatabaseError(JetstateError):
    """SQLite failed: busy past the timeout, disk full, I/O error, a corrupt or foreign file, a newer schema,
    or the store was closed."""

    code = "DATABASE"


class SerializationError(JetstateError):
    """A value that cannot be encoded as JSON (or a stored one that cannot be decoded); nothing was written."""

    code = "SERIALIZATION"


__all__ = [
    "JetstateError",
    "NotFoundError",
    "SequenceConflictError",
    "ConflictError",
    "LeaseLostError",
    "InvalidArgumentError",
    "DatabaseError",
    "SerializationError",
]
