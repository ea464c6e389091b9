"""How a decided claims batch is answered to each role (:mod:`rahat.api.service.claims`).

The decisions as ``claims_decisions.csv`` has them, shaped for an NGO (one neutral answer
for a CNIC held by no household inside its agreement, details only as its agreement grants),
a summary by unit and reason, and the counts. What each role gets is told in
:mod:`rahat.api.service.claims`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.api.service.enums import Role
from rahat.geo.units import UNIT_COLUMNS, Level, Unit, gazetteer

if TYPE_CHECKING:
    from rahat.api.service.claims import Checked
    from rahat.api.service.policy import Grant
    from rahat.api.service.security import Principal

#: Decision (and reason) of an NGO's claim held by no household inside its agreement.
REFER = "refer_to_agency"


def registry_standing(checked: Checked, units: Sequence[Unit]) -> tuple[np.ndarray, np.ndarray]:
    """Per claim: whether a registry household holds its CNIC, and whether it lies outside.

    Households are matched to ``units`` by code at each unit's level, as household exports are.
    """
    from rahat.api.service.export import in_units

    rows, found = checked.index.find(checked.claims.cnic_token)
    found &= checked.claims.cnic_valid
    outside = np.zeros(len(found), dtype=bool)
    if not found.any():
        return found, outside
    frame = checked.registry.frame
    columns = [c for c in UNIT_COLUMNS if c in frame.columns]
    codes = gazetteer().codes_of(frame.iloc[rows[found]][columns].reset_index(drop=True))
    outside[found] = ~in_units(codes, units)
    return found, outside


def _none(value: Any) -> Any:
    return None if value is None or value == "" else value


#: Standings of a household listed in the run's caseload (rank and amount apply).
LISTED = frozenset({"in_caseload", "eligible_not_selected", "registered_not_eligible"})


def decision_rows(checked: Checked) -> list[dict[str, Any]]:
    """Every claim's decision as ``claims_decisions.csv`` has it (empty fields ``None``)."""
    from rahat.engine.claims.outputs import decisions_table

    rows = decisions_table(checked.claims, checked.decided, checked.groups).to_pylist()
    for row in rows:
        row.setdefault("duplicate_group", None)
        row["reasons"] = str(row["reasons"]).split(";")
        for key in ("rank", "cut_line", "failed_rules", "unit"):
            row[key] = _none(row[key])
        if not LISTED.intersection(row["reasons"]):
            row["amount"] = None
    return rows


def mask_for_ngo(rows: list[dict[str, Any]], checked: Checked, grant: Grant) -> None:
    """Shape decisions for an NGO (see the module): one neutral answer unless inside it."""
    found, outside = registry_standing(checked, grant.units or ())
    inside = found & ~outside
    show_rank = grant.allows_field("rank")
    show_amount = grant.allows_field("amount") or grant.allows_field("benefit")
    show_unit = grant.allows_level(Level.TEHSIL)
    stated = checked.claims.stated_tehsil
    for i, row in enumerate(rows):
        row["cut_line"] = row["failed_rules"] = row["duplicate_group"] = None
        selected = "in_caseload" in row["reasons"]
        if not (selected and show_rank and inside[i]):
            row["rank"] = None
        if not (selected and show_amount and inside[i]):
            row["amount"] = None
        if not (inside[i] and show_unit):
            row["unit"] = _none(stated[i])
            row["reasons"] = [r for r in row["reasons"] if r != "stated_location_mismatch"]
        if not inside[i] and checked.claims.cnic_valid[i]:
            first = ["duplicate_claim"] if row["decision"] == "duplicate_claim" else []
            velocity = ["phone_velocity"] if "phone_velocity" in row["reasons"] else []
            row["decision"] = first[0] if first else REFER
            row["reasons"] = [*first, REFER, *velocity]


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claims per unit and reason of the decisions as answered (by unit, then code order)."""
    from rahat.engine.claims.decide import CODES

    order = {code: i for i, code in enumerate((*CODES, REFER))}
    counts = Counter((row["unit"] or "", reason) for row in rows for reason in row["reasons"])
    out = [{"unit": unit, "reason": reason, "claims": n} for (unit, reason), n in counts.items()]
    return sorted(out, key=lambda r: (r["unit"], order.get(r["reason"], len(order))))


def _count(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    """Claims per value of ``key`` (a reason list counts each of its codes)."""
    values = (v for row in rows for v in (row[key] if isinstance(row[key], list) else [row[key]]))
    return dict(Counter(values))


def groups_summary(checked: Checked, principal: Principal) -> dict[str, Any] | None:
    """``duplicate_groups`` for ``principal``: none for NGOs (see the module)."""
    if checked.groups is None or principal.role == Role.NGO:
        return None
    return checked.groups.summary()


def answer(
    checked: Checked, principal: Principal, grant: Grant | None, run_id: str | None
) -> dict[str, Any]:
    """The response for ``principal``'s role (see the module)."""
    rows = decision_rows(checked)
    if principal.role == Role.NGO and not principal.is_admin:
        assert grant is not None
        mask_for_ngo(rows, checked, grant)
    return {
        "claims": len(rows),
        "run_id": run_id,
        "decisions": rows,
        "summary": summary(rows),
        "counts": _count(rows, "decision"),
        "reasons": _count(rows, "reasons"),
        "rejected_fields": dict(checked.claims.rejected),
        "duplicate_groups": groups_summary(checked, principal),
        "phone_velocity_threshold": checked.velocity,
    }
