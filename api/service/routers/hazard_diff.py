"""``POST /hazards/diff``: two uploaded versions of one event, by area and by households.

Areas (km² per class added, removed, kept) are for every reader. Counts of the households that
enter and leave the footprint are for administrators only: they are counts of registered
households in places an agency chooses, and two diffs of nearly equal footprints would count
the households between them, outside the differencing guard that protects runs (see the
README's threat model).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from rahat.api.service.deps import AuditDep, SessionDep, SettingsDep
from rahat.api.service.hazard_requests import household_changes, stored_layer
from rahat.api.service.problems import problem_docs
from rahat.api.service.security import ReaderPrincipal

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


@router.post(
    "/diff",
    response_model=DiffOut,
    summary="Compare two versions of a footprint",
    responses=problem_docs(400, 401, 403, 404, 422),
)
def diff(
    body: DiffRequest,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    principal: ReaderPrincipal,
) -> DiffOut:
    """Km² per class added, removed and kept between two uploaded versions of one event.

    Administrators also get the registry's households entering, leaving and staying in the
    footprint, in total and by district.
    """
    from rahat.engine.footprint_changes import area_changes

    audit.add(filter=body.model_dump())
    old, new = stored_layer(session, body.old), stored_layer(session, body.new)
    households = None
    if principal.is_admin:
        households = household_changes(settings.registry_path, old, new)
    return DiffOut(old=body.old, new=body.new, area=area_changes(old, new), households=households)
