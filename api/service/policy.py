"""What a caller may see of a caseload: the grant derived from its role and agreement.

Agreements name admin units by level and code (:mod:`rahat.geo.units`), resolved and checked
against Rahat's boundaries when the agreement is made, and grant caseload fields checked
against the caseload schema. Household rows are matched to units by code at the unit's level
only, and a caller may filter only by levels whose unit fields its agreement grants.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rahat.api.service.enums import Role
from rahat.api.service.models import Agreement
from rahat.api.service.security import Principal
from rahat.engine.targeting.caseload import CASELOAD_FIELDS, LAYER_FIELD_SUFFIXES
from rahat.geo.errors import InputError
from rahat.geo.units import Level, Unit, gazetteer

#: Raw (registry) household id column; released only to admins or under an explicit grant.
ID_FIELD = "household_id"
#: Per-agreement pseudonym released in place of :data:`ID_FIELD`.
REF_FIELD = "household_ref"

#: Fields whose grant reveals which unit of a level a household is in; filtering by a unit of
#: that level needs one of them.
LEVEL_FIELDS: dict[Level, tuple[str, ...]] = {
    Level.PROVINCE: ("province",),
    Level.DISTRICT: ("district", "district_pcode"),
    Level.TEHSIL: ("tehsil", "tehsil_pcode"),
}

_FIELD_PATTERN = re.compile(r"^(\*?[A-Za-z_][A-Za-z0-9_]*\*?|\*)$")
_LAYER_FIELD = re.compile(r"^[a-z][a-z0-9_]*(" + "|".join(LAYER_FIELD_SUFFIXES) + r")$")
#: Example per-layer names, so that patterns such as ``*_intensity`` are recognised.
_LAYER_EXAMPLES = tuple(f"layer{suffix}" for suffix in LAYER_FIELD_SUFFIXES)


@dataclass(frozen=True)
class Grant:
    """The part of a caseload a caller may receive.

    Attributes
    ----------
    units
        Admin units the caller is limited to; ``None`` for all.
    fields
        Field names or ``*`` patterns the caller may receive; ``None`` for all.
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

    units: tuple[Unit, ...] | None
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

    def allows_level(self, level: Level) -> bool:
        """Whether the caller may learn which unit of ``level`` a household is in."""
        return any(self.allows_field(name) for name in LEVEL_FIELDS[level])


def admin_grant() -> Grant:
    """Everything, uncapped, with raw ids."""
    return Grant(units=None, fields=None, max_rows=None, raw_ids=True)


def agreement_units(stored: Sequence[Any]) -> tuple[Unit, ...]:
    """The units of an agreement as stored (``level:code`` strings) in the gazetteer.

    A stored unit the gazetteer no longer knows matches nothing (it is never re-read as a name).
    """
    places = gazetteer()
    units = []
    for ref in stored:
        level, _, code = str(ref).partition(":")
        unit = places.get(code)
        if unit is not None and unit.level == level:
            units.append(unit)
    return tuple(units)


def agreement_grant(agreement: Agreement) -> Grant:
    """The grant of an NGO's data-sharing agreement."""
    return Grant(
        units=agreement_units(agreement.admin_units),
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
    if principal.role == Role.NGO and agreement is not None:
        return agreement_grant(agreement)
    return None


def parse_list(text: str | Sequence[str] | None) -> list[str]:
    """Split comma-separated values (or a list of them) into stripped, non-empty items."""
    if text is None:
        return []
    items = [text] if isinstance(text, str) else list(text)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def is_caseload_field(name: str) -> bool:
    """Whether ``name`` is a column caseloads can have (fixed, or ``<layer>_intensity|_class``)."""
    return name in CASELOAD_FIELDS or name == REF_FIELD or bool(_LAYER_FIELD.match(name))


def check_field_grant(field: str) -> None:
    """Refuse a field (or ``*`` pattern) that names no caseload column, with the closest ones."""
    if not _FIELD_PATTERN.match(field):
        raise InputError(
            f"invalid field '{field}': use caseload column names or '*' patterns "
            "(for example 'score_*' or '*_intensity')"
        )
    if "*" in field:
        names = (*CASELOAD_FIELDS, *_LAYER_EXAMPLES)
        if not any(fnmatch.fnmatchcase(name, field) for name in names):
            raise InputError(f"field pattern '{field}' matches no caseload column")
        return
    if is_caseload_field(field):
        return
    close = difflib.get_close_matches(field, CASELOAD_FIELDS, n=3, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise InputError(
        f"'{field}' is not a caseload column and cannot be granted{hint}. Grantable: "
        f"{', '.join(CASELOAD_FIELDS)}, and per hazard layer <layer>_intensity, <layer>_class"
    )


def resolve_units(texts: Sequence[str]) -> list[Unit]:
    """Resolve admin units typed as ``level:code``, ``level:name``, a code or a unique name.

    Raises
    ------
    rahat.geo.errors.UnknownUnitError, rahat.geo.errors.AmbiguousUnitError
        For a unit that names nothing or several units, with the candidates.
    """
    places = gazetteer()
    units = [places.resolve(text) for text in texts]
    return list(dict.fromkeys(units))


def validate_agreement_terms(
    units: Sequence[str],
    fields: Sequence[str],
    valid_from: dt.date,
    valid_to: dt.date,
    max_rows: int,
) -> list[Unit]:
    """Check the terms of a new agreement and return its units resolved to codes.

    Raises
    ------
    rahat.geo.errors.InputError
        With what to fix: no unit, an unknown or ambiguous unit, no field, a field that is no
        caseload column, dates in the wrong order or a cap below 1.
    """
    if not units:
        raise InputError("an agreement must cover at least one admin unit (level:code)")
    if not fields:
        raise InputError("an agreement must allow at least one field")
    resolved = resolve_units(units)
    for field in fields:
        check_field_grant(field)
    if valid_to < valid_from:
        raise InputError(f"valid_to {valid_to} is before valid_from {valid_from}")
    if max_rows < 1:
        raise InputError("max_rows must be at least 1")
    return resolved
