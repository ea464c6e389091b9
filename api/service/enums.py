"""Closed sets of the service (roles, run states, output formats) as string enums.

Members are of :class:`enum.StrEnum`: they compare equal to their values, so what the database
stores and the JSON the API answers are the plain strings, as before.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from rahat.geo.errors import UnknownChoiceError


class Choice(StrEnum):
    """A closed set of strings that a user may name (base of the enums below)."""

    @classmethod
    def parse(cls, value: str, what: str | None = None) -> Self:
        """Return the member named by ``value``.

        Parameters
        ----------
        value
            The text a user gave.
        what
            What the value is, for the message (default: the enum's name).

        Raises
        ------
        rahat.geo.errors.UnknownChoiceError
            When ``value`` is no member; the message lists every valid value.
        """
        try:
            return cls(value)
        except ValueError:
            raise UnknownChoiceError(
                f"unknown {what or cls.__name__} '{value}'; use one of: {', '.join(cls)}"
            ) from None


class Role(Choice):
    """The role of an organisation: what its API keys may do."""

    ADMIN = "admin"
    AGENCY = "agency"
    PLANNER = "planner"
    NGO = "ngo"


class RunStatus(Choice):
    """The life cycle of a run: ``queued -> running -> succeeded | failed | interrupted``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


#: States of a run that is not finished.
IN_FLIGHT: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
#: States from which a run can be queued again.
RERUNNABLE: tuple[RunStatus, ...] = (RunStatus.INTERRUPTED, RunStatus.FAILED)


class HouseholdFormat(Choice):
    """Output formats of ``GET /runs/{id}/households``."""

    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"
    GEOJSON = "geojson"


class AuditFormat(Choice):
    """Output formats of ``GET /audit/export``."""

    CSV = "csv"
    JSONL = "jsonl"


class GrievanceStatus(Choice):
    """The life cycle of a grievance: ``open -> under_review -> resolved | rejected``.

    An open ticket may also be rejected at once; ``resolved`` and ``rejected`` are final.
    """

    OPEN = "open"
    UNDER_REVIEW = "under_review"
    RESOLVED = "resolved"
    REJECTED = "rejected"
