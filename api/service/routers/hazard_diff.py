"""``POST /hazards/diff``: two uploaded versions of one event, by area and by households.

Areas (km² per class added, removed, kept) are for every reader. Counts of the households that
enter and leave the footprint are for administrators only: they are counts of registered
households in places an agency chooses, and two diffs of nearly equal footprints would count
the households between them, outside the differencing guard that protects runs (see the
README's threat model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from rahat.api.service import audit
from rahat.api.service.models import Hazard
from rahat.api.service.problems import problem_docs
from rahat.api.service.scenarios import READ_OPTIONS, READ_OPTIONS_KEY
from rahat.api.service.security import ReaderPrincipal, SessionDep
from rahat.geo.errors import NotFoundError

router = APIRouter(prefix="/hazards", tags=["hazards"])


class DiffRequest(BaseModel):
    """Two uploaded hazards: the earlier and the later version of one event."""

    model_config = ConfigDict(extra="forbid")

    old: str = Field(max_length=64, description="Hazard id of the earlier version.")
    new: str = Field(max_length=64, description="Hazard id of the later version.")


class DiffOut(BaseModel):
    """Area per class added, removed and kept; households entering and leaving (admins)."""

    old: str
    new: str
    area: list[dict[str, Any]]
    households: dict[str, Any] | None = Field(
        description="Households entering, leaving and staying, in total and by district; "
        "null for everyone but administrators."
    )


def _layer(session: Session, hazard_id: str) -> Any:
    from rahat.geo.hazards import read_hazard

    hazard = session.get(Hazard, hazard_id)
    if hazard is None:
        raise NotFoundError(f"No hazard with id '{hazard_id}'; list them with GET /hazards.")
    options = (hazard.inspect or {}).get(READ_OPTIONS_KEY) or {}
    return read_hazard(
        Path(hazard.path),
        kind=hazard.kind,
        name=hazard.name,
        **{key: options[key] for key in READ_OPTIONS if options.get(key)},
    )


@router.post(
    "/diff",
    response_model=DiffOut,
    summary="Compare two versions of a footprint",
    responses=problem_docs(400, 401, 403, 404, 422),
)
def diff(
    body: DiffRequest, request: Request, session: SessionDep, principal: ReaderPrincipal
) -> DiffOut:
    """Km² per class added, removed and kept between two uploaded versions of one event.

    Administrators also get the registry's households entering, leaving and staying in the
    footprint, in total and by district.
    """
    from rahat.engine.footprint_changes import area_changes

    audit.note(request, filter=body.model_dump())
    old, new = _layer(session, body.old), _layer(session, body.new)
    households = None
    if principal.is_admin:
        from rahat.engine.footprint_changes import footprint_changes
        from rahat.engine.pipeline import load_registry

        registry = load_registry(request.app.state.settings.registry_path).registry
        changes = footprint_changes(registry, old, new)
        households = {
            "totals": changes.totals,
            "by_district": changes.by_district.to_dict(orient="records"),
        }
    return DiffOut(old=body.old, new=body.new, area=area_changes(old, new), households=households)
