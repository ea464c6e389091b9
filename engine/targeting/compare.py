"""What-if: compare two caseloads (households added, dropped and kept; cost; coverage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.targeting.caseload import Caseload
from rahat.engine.targeting.money import checked_total


@dataclass(frozen=True)
class Comparison:
    """Difference between caseload A (baseline) and caseload B.

    Attributes
    ----------
    totals
        ``a_selected``, ``b_selected``, ``added`` (in B, not A), ``dropped`` (in A, not B),
        ``kept``, ``a_amount``, ``b_amount``, ``amount_change``, and the exposed coverage of
        each (``a_exposed_reached_share``, ``b_exposed_reached_share``).
    by_district
        One row per province/district: households and amount in A and B, added, dropped, kept,
        exposed households and coverage in A and B.
    households
        ``household_id`` and ``status`` (``added``, ``dropped``, ``kept``) of every household
        selected in A or B, ordered by id.
    """

    totals: dict[str, Any]
    by_district: pd.DataFrame
    households: pd.DataFrame


def _frame(c: Caseload | pd.DataFrame) -> pd.DataFrame:
    return c.core if isinstance(c, Caseload) else c


#: The admin units a comparison is broken down by.
_KEYS = ["province", "district"]


def _side(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns compared, admin units kept categorical (grouped by code, not by string)."""

    def units(column: pd.Series) -> Any:
        if isinstance(column.dtype, pd.CategoricalDtype):
            return column.array
        return column.astype(str).to_numpy()

    return pd.DataFrame(
        {
            "household_id": frame["household_id"].to_numpy(np.int64),
            "province": units(frame["province"]),
            "district": units(frame["district"]),
            "selected": frame["selected"].to_numpy(dtype=bool),
            "exposed": frame["exposed"].to_numpy(dtype=bool),
            "amount": frame["amount"].to_numpy(np.int64),
        }
    )


def _by_unit(grouped: pd.DataFrame) -> pd.DataFrame:
    """A small per-unit table with its admin units as plain text (for merging and sorting)."""
    out = grouped.reset_index()
    for key in _KEYS:
        out[key] = out[key].astype(str)
    return out


def compare_caseloads(a: Caseload | pd.DataFrame, b: Caseload | pd.DataFrame) -> Comparison:
    """Compare caseload ``b`` with baseline ``a`` (caseloads or their frames, e.g. from Parquet).

    Parameters
    ----------
    a, b
        The two caseloads, evaluated on the same registry.

    Returns
    -------
    Comparison
        Totals, a by-district table and the per-household status.
    """
    fa, fb = _side(_frame(a)), _side(_frame(b))
    chosen_a = fa[fa["selected"].to_numpy()].sort_values("household_id", kind="stable")
    chosen_b = fb[fb["selected"].to_numpy()].sort_values("household_id", kind="stable")
    ids_a = chosen_a["household_id"].to_numpy()
    ids_b = chosen_b["household_id"].to_numpy()
    in_b = np.isin(ids_a, ids_b, assume_unique=True)
    in_a = np.isin(ids_b, ids_a, assume_unique=True)
    status = pd.concat(
        [
            pd.DataFrame({"household_id": ids_a, "status": np.where(in_b, "kept", "dropped")}),
            pd.DataFrame({"household_id": ids_b[~in_a], "status": "added"}),
        ]
    ).sort_values("household_id", ignore_index=True)

    # Admin units of each household, from whichever caseload considered it (A first).
    added = chosen_b[~in_a]
    in_a_rows = pd.Index(fa["household_id"]).get_indexer(added["household_id"])
    found = in_a_rows >= 0
    flags = pd.concat(
        [
            chosen_a[_KEYS].assign(status=np.where(in_b, "kept", "dropped")),
            fa.iloc[in_a_rows[found]][_KEYS].assign(status="added"),
            added.loc[~found, _KEYS].assign(status="added"),
        ]
    )
    counts = _by_unit(
        flags.groupby([*_KEYS, "status"], observed=True)
        .size()
        .unstack("status", fill_value=0)
        .reindex(columns=["added", "dropped", "kept"], fill_value=0)
    )
    counts.columns.name = None

    # Checked once per side: every group's sum of these non-negative amounts is at most it.
    a_amount = checked_total(fa["amount"].to_numpy(np.int64), "amount of caseload A")
    b_amount = checked_total(fb["amount"].to_numpy(np.int64), "amount of caseload B")

    def per_side(f: pd.DataFrame, tag: str) -> pd.DataFrame:
        g = f.assign(reached=f["selected"] & f["exposed"]).groupby(_KEYS, observed=True)
        out = g.agg(
            households=("selected", "sum"),
            amount=("amount", "sum"),
            exposed=("exposed", "sum"),
            reached=("reached", "sum"),
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            out["coverage"] = out["reached"] / out["exposed"].where(out["exposed"] > 0)
        out = out.drop(columns="reached")
        return _by_unit(out.add_prefix(f"{tag}_"))

    table = per_side(fa, "a").merge(per_side(fb, "b"), on=_KEYS, how="outer")
    table = table.merge(counts, on=_KEYS, how="left").sort_values(_KEYS, ignore_index=True)
    for col in table.columns:
        if col not in _KEYS and not col.endswith("coverage"):
            table[col] = table[col].fillna(0).astype(np.int64)

    def coverage(f: pd.DataFrame) -> float | None:
        exposed = int(f["exposed"].sum())
        return int((f["selected"] & f["exposed"]).sum()) / exposed if exposed else None

    totals = {
        "a_selected": len(ids_a),
        "b_selected": len(ids_b),
        "added": int((~in_a).sum()),
        "dropped": int((~in_b).sum()),
        "kept": int(in_b.sum()),
        "a_amount": a_amount,
        "b_amount": b_amount,
        "amount_change": b_amount - a_amount,
        "a_exposed_reached_share": coverage(fa),
        "b_exposed_reached_share": coverage(fb),
    }
    return Comparison(totals=totals, by_district=table, households=status)
