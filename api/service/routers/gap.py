"""``/gap``: whom the registry misses, per admin unit, for planners and agencies.

The coverage-gap table of the served registry and survey (:mod:`rahat.api.service.gap`), with
the columns of ``gap_by_unit.csv``. Rows describing fewer than k households
(``RAHAT_K_ANONYMITY``) are blanked for everyone but admins, with complementary suppression so
that no blanked row is the difference of published ones. NGOs get nothing here: their
data-sharing agreements grant caseload fields, not registry-wide estimates.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from rahat.api.service.aggregates import LEVELS, unit_codes
from rahat.api.service.deps import AuditDep, GapDep, SettingsDep
from rahat.api.service.problems import problem_docs
from rahat.api.service.run_requests import threshold
from rahat.api.service.security import ReaderPrincipal
from rahat.geo.errors import UnknownChoiceError

router = APIRouter(prefix="/gap", tags=["gap"])

#: Levels a request may name: an admin level, optionally cut (``district_footprint``).
LEVEL_PATTERN = r"^(province|district|tehsil)(_footprint)?$"


class GapFigures(BaseModel):
    """Figures of the gap table; ``null`` where suppressed."""

    households_est: int | None = Field(description="Estimated households.")
    registered: int | None = Field(description="Registered households (registry records).")
    coverage: float | None = Field(description="registered / households_est.")
    unregistered_b40_est: int | None = Field(
        description="Estimated bottom-40% households missing from the registry."
    )
    stale_records: int | None = Field(description="Registry records older than the age limit.")
    suppressed: bool = Field(description="Whether the figures are blanked (k-anonymity).")


class GapUnit(GapFigures):
    """One unit's row of ``gap_by_unit.csv`` (further columns of the table pass through)."""

    model_config = ConfigDict(extra="allow")

    level: str
    unit: str
    pcode: str
    parent: str | None = Field(description="The unit's province (district) or district (tehsil).")
    unregistered_b40_lo90: int | None = Field(description="Lower end of the 90% interval.")
    unregistered_b40_hi90: int | None = Field(description="Upper end of the 90% interval.")
    method: str | None = Field(
        description="direct, fay_herriot or synthetic; null where the row is suppressed."
    )


class GapOut(BaseModel):
    """The gap table at one level, with the national sums of the provinces."""

    level: str
    k: int | None = Field(description="Suppression threshold applied (null: none, admins).")
    registry: str = Field(description="File name of the registry (never the server path).")
    survey: str = Field(description="File name of the survey.")
    survey_households: int
    denominators: str = Field(description="census or survey: households per district.")
    totals: GapFigures
    units: list[GapUnit]


def with_unit_codes(units: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """The gap rows of ``level`` with each unit's gazetteer ``code`` (maps match by it).

    Rows of the footprint levels (``district_footprint``...) keep the code of their unit.
    """
    base = level.removesuffix("_footprint")
    if base not in LEVELS:
        return units
    keyed = []
    for row in units:
        names = {"province": row.get("province")}
        if base == "district":
            names |= {"district": row.get("unit"), "district_pcode": row.get("pcode")}
        elif base == "tehsil":
            names |= {"district": row.get("parent"), "tehsil": row.get("unit")}
            names["tehsil_pcode"] = row.get("pcode")
        keyed.append(names)
    codes = unit_codes(keyed, base)
    return [row | {"code": code} for row, code in zip(units, codes, strict=True)]


@router.get(
    "",
    response_model=GapOut,
    summary="Coverage gap: households the registry misses, per unit",
    responses=problem_docs(401, 403, 422, 503),
)
def get_gap(
    settings: SettingsDep,
    gap: GapDep,
    audit: AuditDep,
    principal: ReaderPrincipal,
    level: Annotated[
        str, Query(max_length=40, pattern=LEVEL_PATTERN, description="province, district, ...")
    ] = "district",
) -> GapOut:
    """Estimated households, coverage and unregistered bottom-40% households with 90% intervals.

    Computed once from the served registry and survey (the first request may wait, or get 503
    with ``Retry-After``). Figures describing fewer than k households are ``null`` for everyone
    but admins, and so are as many others as keep them from being computed by subtraction.
    """
    audit.add(filter={"level": level})
    result = gap.get()
    if level not in result.levels:
        raise UnknownChoiceError(
            f"the gap estimate has no level '{level}'; use one of: {', '.join(result.levels)}"
        )
    view = result.tree.view(threshold(principal, settings))
    units = with_unit_codes(view["levels"][level], level)
    audit.add(rows=len(units))
    return GapOut(
        level=level,
        k=threshold(principal, settings),
        registry=result.registry_name,
        survey=result.survey_name,
        survey_households=result.survey_households,
        denominators=result.denominators,
        totals=GapFigures(**view["totals"]),
        units=[GapUnit(**row) for row in units],
    )
