"""Error hierarchy for everything a user can hand Rahat.

Every problem with *input* (a file, a scenario, a request) raises a subclass of
:class:`InputError`. Its message names the offending thing and says what to do, so the CLI can
print it and exit with a non-zero code and the API can answer with a 4xx problem document,
never a stack trace. Anything that is not an ``InputError`` is a bug or a server fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class RahatError(Exception):
    """Base class of all errors raised on purpose by Rahat."""


class InputError(RahatError, ValueError):
    """Input that Rahat refuses, with a message a person can act on.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    source
        The file or field the problem is in, if any; prefixed to the message.
    """

    #: Short machine-readable code, used as the problem-document ``type`` suffix in the API.
    code = "invalid-input"

    def __init__(self, message: str, *, source: str | Path | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.detail = message
        super().__init__(f"{self.source}: {message}" if self.source else message)


class UnreadableFileError(InputError):
    """The file cannot be opened or parsed at all (missing, truncated, corrupt, wrong format)."""

    code = "unreadable-file"


class SchemaError(InputError):
    """A table lacks required columns or has columns of an unusable type."""

    code = "schema"


class TooLargeError(InputError):
    """An input exceeds a configured size limit (bytes, pixels, vertices, rows)."""

    code = "too-large"


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or not usable for the operation."""

    code = "crs"


class NoOverlapError(InputError):
    """A layer does not overlap the registry (or another layer) it must be used with."""

    code = "no-overlap"


class GeometryError(InputError):
    """Geometries are empty, invalid beyond repair, or of the wrong type."""

    code = "geometry"


class UnsafeArchiveError(InputError):
    """An archive holds paths that leave it, nested archives, or other unsafe members."""

    code = "unsafe-archive"


class AttributeFieldError(InputError):
    """A named attribute (for example the intensity field) is missing or not numeric."""

    code = "attribute"


class EmptyDataError(InputError):
    """An input holds no usable data (all nodata, no rows, no features)."""

    code = "empty"


class ScenarioError(InputError):
    """A targeting scenario is invalid: unknown fields, bad values, contradictory rules."""

    code = "scenario"


class TriggerError(InputError):
    """A trigger file or its evaluation is invalid: bad fields, a missing source, dates outside."""

    code = "trigger"


class UnknownUnitError(InputError):
    """An admin unit names nothing in Rahat's boundaries (the message lists the closest)."""

    code = "unknown-unit"


class AmbiguousUnitError(InputError):
    """An admin-unit name fits several units (the message lists them with their codes)."""

    code = "ambiguous-unit"


class SnapshotError(InputError):
    """A registry snapshot is missing, truncated, corrupt or of another schema version."""

    code = "snapshot"


class UnsupportedMediaTypeError(InputError):
    """A request body is not in a format the endpoint takes (for example not multipart)."""

    code = "unsupported-media-type"


class UnknownChoiceError(InputError):
    """A value is not one of a closed set (a role, a run status, a format); lists the valid ones."""

    code = "unknown-choice"


class UnauthenticatedError(RahatError):
    """The caller sent no API key, or one that is unknown or revoked."""

    code = "unauthenticated"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class NotFoundError(RahatError):
    """A thing asked for does not exist, or the caller may not know it exists."""

    code = "not-found"


class AccessDeniedError(RahatError):
    """The caller may not do or see this (its role, agreement or a privacy rule says no)."""

    code = "access-denied"


class ConflictError(RahatError):
    """The request does not fit the current state of a thing (a run still running, ...)."""

    code = "conflict"


class UnavailableError(RahatError):
    """The service cannot do this now (no registry, database down); retry once it is fixed."""

    code = "unavailable"


class RunInterruptedError(RahatError):
    """A run was stopped in flight because the server is shutting down (it may be re-run)."""

    code = "interrupted"


class StorageFullError(RahatError):
    """The server's disk (or quota) is full: nothing was stored; retry once space is freed."""

    code = "storage-full"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "The server's storage is full, so nothing was stored. Retry once the operators "
            "have freed space."
        )


class RateLimitedError(RahatError):
    """The caller asked too often; it may retry after ``retry_after`` seconds."""

    code = "rate-limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        import math

        self.retry_after = max(1, math.ceil(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}
        super().__init__(message)
