"""What the ``/hazards`` routes do, without HTTP: find, read, check and compare uploads.

Refusals are errors of :mod:`rahat.geo.errors` (404, 422), turned into problem documents by
:mod:`rahat.api.service.problems`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rahat.api.service.models import Hazard
from rahat.api.service.scenarios import READ_OPTIONS, READ_OPTIONS_KEY
from rahat.geo.errors import InputError, NotFoundError

#: Form fields a hazard upload may carry besides its file.
FORM_FIELDS = ("name", "kind", "crs", "intensity_field", "layer")
#: Longest accepted ``kind`` (the length of its database column).
MAX_KIND_CHARS = 50


def find_hazard(session: Session, hazard_id: str) -> Hazard:
    """The uploaded hazard ``hazard_id``; :class:`~rahat.geo.errors.NotFoundError` if none."""
    hazard = session.get(Hazard, hazard_id)
    if hazard is None:
        raise NotFoundError(f"No hazard with id '{hazard_id}'; list them with GET /hazards.")
    return hazard


def check_form(fields: Mapping[str, str]) -> None:
    """Refuse an upload's form with fields other than :data:`FORM_FIELDS` or a long ``kind``."""
    unknown = sorted(set(fields) - set(FORM_FIELDS))
    if unknown:
        raise InputError(f"Unknown form field(s) {unknown}; allowed: {', '.join(FORM_FIELDS)}.")
    if len(fields.get("kind") or "") > MAX_KIND_CHARS:
        raise InputError(f"Form field 'kind' is longer than {MAX_KIND_CHARS} characters.")


def stored_layer(session: Session, hazard_id: str) -> Any:
    """Read an uploaded hazard as it was validated (with the read options of its upload)."""
    from rahat.geo.hazards import read_hazard

    hazard = find_hazard(session, hazard_id)
    options = (hazard.inspect or {}).get(READ_OPTIONS_KEY) or {}
    return read_hazard(
        Path(hazard.path),
        kind=hazard.kind,
        name=hazard.name,
        **{key: options[key] for key in READ_OPTIONS if options.get(key)},
    )


def household_changes(registry_path: Path, old: Any, new: Any) -> dict[str, Any]:
    """Households of the registry entering, leaving and staying in a footprint (admins only)."""
    from rahat.engine.footprint_changes import footprint_changes
    from rahat.engine.pipeline import load_registry

    registry = load_registry(registry_path).registry
    changes = footprint_changes(registry, old, new)
    return {
        "totals": changes.totals,
        "by_district": changes.by_district.to_dict(orient="records"),
    }
