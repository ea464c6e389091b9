"""What a caller may see of a caseload: the grant derived from its role and agreement."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rahat.api.service.models import Agreement
from rahat.api.service.security import Principal

#: Caseload columns naming the admin units a household lies in; agreements and filters match
#: any of them (case-insensitively), so units can be given as names or P-codes at any level.
UNIT_COLUMNS: tuple[str, ...] = ("province", "district", "tehsil", "district_pcode", "tehsil_pcode")

#: Raw (registry) household id column; released only to admins or under an explicit grant.
ID_FIELD = "household_id"
#: Per-agreement pseudonym released in place of :data:`ID_FIELD`.
REF_FIELD = "household_ref"

_FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\*?$")


@dataclass(frozen=True)
class Grant:
    """The part of a caseload a caller may receive.

    Attributes
    ----------
    units
        Admin units (names or P-codes, lower case) the caller is limited to; ``None`` for all.
    fields
        Field names or ``prefix*`` patterns the caller may receive; ``None`` for all.
    max_rows
        Most rows per request; ``None`` for no cap.
    raw_ids
        Whether the registry's ``household_id`` may be released; otherwise ``household_ref``.
    pseudonym_key
        Key of the ``household_ref`` pseudonyms.
    agreement_id
        The agreement the grant comes from, if any.
    selected_only
        Whether the caller is limited to the selected caseload.
    """

    units: frozenset[str] | None
    fields: tuple[str, ...] | None
    max_rows: int | None
    raw_ids: bool
    pseudonym_key: bytes | None = None
    agreement_id: int | None = None
    selected_only: bool = False

    def allows_field(self, name: str) -> bool:
        """Whether column ``name`` may be released."""
        if name == REF_FIELD:
            return True
        if name == ID_FIELD:
            return self.raw_ids
        if self.fields is None:
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.fields)


def admin_grant() -> Grant:
    """Everything, uncapped, with raw ids."""
    return Grant(units=None, fields=None, max_rows=None, raw_ids=True)


def agreement_grant(agreement: Agreement) -> Grant:
    """The grant of an NGO's data-sharing agreement."""
    return Grant(
        units=frozenset(u.strip().lower() for u in agreement.admin_units if u.strip()),
        fields=tuple(agreement.fields),
        max_rows=agreement.max_rows,
        raw_ids=ID_FIELD in agreement.fields,
        pseudonym_key=bytes.fromhex(agreement.pseudonym_key),
        agreement_id=agreement.id,
        selected_only=True,
    )


def grant_for(principal: Principal, agreement: Agreement | None) -> Grant | None:
    """Return what ``principal`` may see of household rows, or ``None`` if nothing."""
    if principal.is_admin:
        return admin_grant()
    if principal.role == "ngo" and agreement is not None:
        return agreement_grant(agreement)
    return None


def parse_list(text: str | Sequence[str] | None) -> list[str]:
    """Split comma-separated values (or a list of them) into stripped, non-empty items."""
    if text is None:
        return []
    items = [text] if isinstance(text, str) else list(text)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def validate_agreement_terms(
    units: Sequence[str],
    fields: Sequence[str],
    valid_from: dt.date,
    valid_to: dt.date,
    max_rows: int,
) -> None:
    """Check the terms of a new agreement; raise ``ValueError`` with what to fix."""
    if not units:
        raise ValueError("an agreement must cover at least one admin unit (name or P-code)")
    if not fields:
        raise ValueError("an agreement must allow at least one field")
    bad = [f for f in fields if not _FIELD_PATTERN.match(f)]
    if bad:
        raise ValueError(
            f"invalid field names {bad}: use caseload column names, or 'prefix*' patterns"
        )
    if valid_to < valid_from:
        raise ValueError(f"valid_to {valid_to} is before valid_from {valid_from}")
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
