"""The files of a claims check: decisions per claim, a summary by unit and reason, a report.

* ``claims_decisions.csv``: per claim its ``row`` in the claims file, ``decision``, ``reasons``
  (``;``-joined codes), ``rank`` and ``amount`` (from the caseload), ``cut_line`` (for
  ``eligible_not_selected``: the budget's or quota's cut), ``failed_rules`` (for
  ``registered_not_eligible``), ``unit`` (the tehsil it is counted under) and
  ``duplicate_group`` (the claimant's probable-household group among the unregistered, empty
  when in none: :mod:`rahat.engine.claims.duplicates`). No CNIC, phone, token, name or address
  is written.
* ``claims_summary.csv``: claims per ``unit`` and ``reason`` (a claim counts under each of its
  codes). Nothing is suppressed: this is the agency's tool, not a published table.
* ``unregistered_groups.csv``: per group of claims from unregistered claimants that are
  probably one household, its ``group``, ``tehsil``, ``size``, claim ``rows`` and what
  ``linked_by`` (``phone``, ``name+address``); names and addresses are never written.
* ``registration_referrals.csv``: the claimants decided ``not_registered_in_footprint``,
  counted per stated tehsil and grid cell (``claims``, ``households``), never per person:
  :mod:`rahat.engine.claims.referrals`; ``rahat gap plan --referrals`` reads it.
* ``claims_report.json``: counts by decision and reason, rows with unreadable fields, the
  velocity threshold, the groups of the unregistered (``unregistered_groups``), the referrals'
  totals (``registration_referrals``) and the run's totals the cut line refers to. Written
  last.

The files are built in a temporary sibling folder and moved in together, the report last
(:func:`rahat.engine.targeting.folders.commit_files`): a folder with a report is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rahat.engine.claims.decide import CODES, ClaimDecisions
from rahat.engine.claims.duplicates import DuplicateGroups, group_unregistered
from rahat.engine.claims.read import Claims
from rahat.engine.claims.referrals import REFERRALS_FILE, referrals_frame, referrals_summary
from rahat.engine.targeting.folders import commit_files, sweep_stale, temp_dir_for
from rahat.engine.targeting.tables import write_csv

#: File name of each output.
FILES: dict[str, str] = {
    "decisions": "claims_decisions.csv",
    "summary": "claims_summary.csv",
    "groups": "unregistered_groups.csv",
    "referrals": REFERRALS_FILE,
    "report": "claims_report.json",
}
#: Run totals copied into the report (the cut line's context).
RUN_TOTALS: tuple[str, ...] = ("budget_total", "selected", "amount", "eligible", "exposed")


def decisions_table(
    claims: Claims, decided: ClaimDecisions, groups: DuplicateGroups | None = None
) -> pa.Table:
    """The per-claim table of ``claims_decisions.csv`` (``duplicate_group`` with ``groups``)."""
    told = decided.cause
    cut = decided.has("eligible_not_selected")
    failed = decided.has("registered_not_eligible")
    columns = {
        "row": claims.row,
        "decision": pa.array(np.array(CODES, dtype=object)[decided.decision], pa.string()),
        "reasons": pa.array(decided.reasons(), pa.string()),
        "rank": pa.array(decided.rank, mask=decided.rank <= 0),
        "amount": decided.amount,
        "cut_line": pa.array(np.where(cut, told, ""), pa.string()),
        "failed_rules": pa.array(np.where(failed, told, ""), pa.string()),
        "unit": pa.array(decided.unit.astype(str), pa.string()),
    }
    if groups is not None:
        columns["duplicate_group"] = pa.array(groups.group, mask=groups.group < 0)
    return pa.table(columns)


def summary_frame(decided: ClaimDecisions) -> pd.DataFrame:
    """Claims per unit and reason code, by unit then code order (nothing suppressed)."""
    parts = []
    for code in CODES:
        mask = decided.has(code)
        if mask.any():
            counts = pd.Series(decided.unit[mask]).value_counts(sort=False)
            parts.append(
                pd.DataFrame({"unit": counts.index, "reason": code, "claims": counts.to_numpy()})
            )
    if not parts:
        return pd.DataFrame({"unit": [], "reason": [], "claims": []})
    table = pd.concat(parts, ignore_index=True)
    table["order"] = table["reason"].map({c: i for i, c in enumerate(CODES)})
    table = table.sort_values(["unit", "order"], kind="stable").drop(columns="order")
    return table.reset_index(drop=True)


def report(
    claims: Claims,
    decided: ClaimDecisions,
    *,
    velocity: int,
    totals: dict[str, Any] | None,
    groups: DuplicateGroups | None = None,
    referrals: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Counts by decision and by reason, unreadable fields, threshold, groups, referrals, run.

    ``referrals``: the :func:`~rahat.engine.claims.referrals.referrals_frame`, summarised as
    ``registration_referrals``.
    """
    names = np.array(CODES)
    by_decision = pd.Series(names[decided.decision]).value_counts()
    payload: dict[str, Any] = {
        "claims": len(claims),
        "decisions": {c: int(by_decision.get(c, 0)) for c in CODES if by_decision.get(c, 0)},
        "reasons": {c: int(n) for c in CODES if (n := decided.has(c).sum())},
        "rejected_fields": dict(claims.rejected),
        "phone_velocity_threshold": velocity,
    }
    if groups is not None:
        payload["unregistered_groups"] = groups.summary()
    if referrals is not None:
        payload["registration_referrals"] = referrals_summary(referrals)
    payload["run"] = None if totals is None else {k: totals[k] for k in RUN_TOTALS if k in totals}
    return payload


def write_claims_outputs(
    out_dir: str | Path,
    claims: Claims,
    decided: ClaimDecisions,
    *,
    velocity: int,
    totals: dict[str, Any] | None,
    groups: DuplicateGroups | None = None,
) -> dict[str, Any]:
    """Write the five files into ``out_dir`` (created if missing); return the report.

    ``groups`` are the probable households among the unregistered; grouped here
    (:func:`rahat.engine.claims.duplicates.group_unregistered`) when not given.
    """
    out_dir = Path(out_dir)
    if groups is None:
        groups = group_unregistered(claims, decided)
    sweep_stale(out_dir)
    temp = temp_dir_for(out_dir)
    referrals = referrals_frame(claims, decided, groups)
    payload = report(
        claims, decided, velocity=velocity, totals=totals, groups=groups, referrals=referrals
    )
    try:
        options: dict[str, Any] = {"index": False, "lineterminator": "\n"}
        write_csv(decisions_table(claims, decided, groups), temp / FILES["decisions"])
        summary_frame(decided).to_csv(temp / FILES["summary"], **options)
        groups.table(claims.row, claims.stated_tehsil).to_csv(temp / FILES["groups"], **options)
        referrals.to_csv(temp / FILES["referrals"], **options)
        text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=False)
        (temp / FILES["report"]).write_text(text + "\n", encoding="utf-8")
        commit_files(temp, out_dir, FILES["report"])
    finally:
        if temp.exists():
            import shutil

            shutil.rmtree(temp, ignore_errors=True)
    return payload
