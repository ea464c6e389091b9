"""What-if: compare two caseloads (households added, dropped and kept; cost; coverage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.targeting.caseload import Caseload
from rahat.engine.targeting.money import checked_total
from rahat.engine.targeting.unit_sums import bin_sums


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
#: Status of a household selected in either caseload.
_STATUSES = ("added", "dropped", "kept")


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

    Two caseloads evaluated on the same registry are compared by registry position, from their
    per-household arrays (:func:`_sides_by_position`: no frame, no sort of the considered
    households); otherwise by household id, from their frames. Both give the same comparison.

    Parameters
    ----------
    a, b
        The two caseloads, evaluated on the same registry.

    Returns
    -------
    Comparison
        Totals, a by-district table and the per-household status.
    """
    same = _sides_by_position(a, b)
    parts = same if same is not None else _sides_by_id(_side(_frame(a)), _side(_frame(b)))
    return _comparison(parts)


@dataclass(frozen=True)
class _Parts:
    """What a comparison is assembled from (both sides, either way)."""

    ids_a: np.ndarray  # household ids selected in A, ascending
    ids_b: np.ndarray
    in_b: np.ndarray  # per id of A: selected in B too
    in_a: np.ndarray
    counts: pd.DataFrame  # province, district, added, dropped, kept
    side_a: pd.DataFrame  # province, district, a_households, a_amount, a_exposed, a_coverage
    side_b: pd.DataFrame
    a_amount: int
    b_amount: int
    a_coverage: float | None
    b_coverage: float | None


def _status(ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    in_b = np.isin(ids_a, ids_b, assume_unique=True)
    in_a = np.isin(ids_b, ids_a, assume_unique=True)
    return in_b, in_a


def _coverage(selected: np.ndarray, exposed: np.ndarray) -> float | None:
    n_exposed = int(np.count_nonzero(exposed))
    return int(np.count_nonzero(selected & exposed)) / n_exposed if n_exposed else None


def _side_table(table: pd.DataFrame, tag: str) -> pd.DataFrame:
    with np.errstate(divide="ignore", invalid="ignore"):
        table["coverage"] = table["reached"] / table["exposed"].where(table["exposed"] > 0)
    table = table.drop(columns="reached")
    return _by_unit(table.add_prefix(f"{tag}_"))


def _sides_by_id(fa: pd.DataFrame, fb: pd.DataFrame) -> _Parts:
    """The parts of a comparison of two frames, matched by household id."""
    chosen_a = fa[fa["selected"].to_numpy()].sort_values("household_id", kind="stable")
    chosen_b = fb[fb["selected"].to_numpy()].sort_values("household_id", kind="stable")
    ids_a = chosen_a["household_id"].to_numpy()
    ids_b = chosen_b["household_id"].to_numpy()
    in_b, in_a = _status(ids_a, ids_b)

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
        .reindex(columns=list(_STATUSES), fill_value=0)
    )
    counts.columns.name = None

    def per_side(f: pd.DataFrame, tag: str) -> pd.DataFrame:
        g = f.assign(reached=f["selected"] & f["exposed"]).groupby(_KEYS, observed=True)
        out = g.agg(
            households=("selected", "sum"),
            amount=("amount", "sum"),
            exposed=("exposed", "sum"),
            reached=("reached", "sum"),
        )
        return _side_table(out, tag)

    return _Parts(
        ids_a=ids_a,
        ids_b=ids_b,
        in_b=in_b,
        in_a=in_a,
        counts=counts,
        side_a=per_side(fa, "a"),
        side_b=per_side(fb, "b"),
        # checked once per side: every group's sum of these non-negative amounts is at most it
        a_amount=checked_total(fa["amount"].to_numpy(np.int64), "amount of caseload A"),
        b_amount=checked_total(fb["amount"].to_numpy(np.int64), "amount of caseload B"),
        a_coverage=_coverage(fa["selected"].to_numpy(bool), fa["exposed"].to_numpy(bool)),
        b_coverage=_coverage(fb["selected"].to_numpy(bool), fb["exposed"].to_numpy(bool)),
    )


def _sides_by_position(a: Caseload | pd.DataFrame, b: Caseload | pd.DataFrame) -> _Parts | None:
    """The parts of a comparison of two caseloads of one registry, by registry position.

    ``None`` unless both are caseloads with their per-household arrays on the same registry.
    A household's admin units are the registry's, whichever caseload considered it.
    """
    if not (isinstance(a, Caseload) and isinstance(b, Caseload)):
        return None
    ra, rb = a.rows, b.rows
    if ra is None or rb is None or ra.exposure.registry is not rb.exposure.registry:
        return None
    registry = ra.exposure.registry
    frame = registry.frame
    if any(not isinstance(frame[k].dtype, pd.CategoricalDtype) for k in _KEYS):
        return None
    province, district = (registry.array(k) for k in _KEYS)  # category codes
    n_districts = len(frame["district"].cat.categories)
    n_units = len(frame["province"].cat.categories) * n_districts

    def unit_of(positions: np.ndarray) -> np.ndarray:
        """(province, district) unit code of the households at ``positions``; -1 if unknown."""
        p = np.take(province, positions).astype(np.int64)
        d = np.take(district, positions).astype(np.int64)
        return np.where((p >= 0) & (d >= 0), p * n_districts + d, -1)

    hid = registry.household_id

    def chosen(rows: Any) -> tuple[np.ndarray, np.ndarray]:
        positions = rows.idx[rows.selected]
        ids = np.take(hid, positions)
        order = np.argsort(ids, kind="stable")
        return ids[order], positions[order]

    (ids_a, pos_a), (ids_b, pos_b) = chosen(ra), chosen(rb)
    in_b, in_a = _status(ids_a, ids_b)

    def tally(positions: np.ndarray) -> np.ndarray:
        units = unit_of(positions)
        return np.bincount(units[units >= 0], minlength=n_units)

    counts = _unit_table(
        frame,
        n_districts,
        {
            "added": tally(pos_b[~in_a]),
            "dropped": tally(pos_a[~in_b]),
            "kept": tally(pos_a[in_b]),
        },
        observed=tally(np.concatenate([pos_a, pos_b[~in_a]])) > 0,
    )
    counts = _by_unit(counts.set_index(_KEYS))

    def per_side(rows: Any, tag: str) -> tuple[pd.DataFrame, int]:
        units = unit_of(rows.idx)
        known = units >= 0
        keys = units[known]
        selected, exposed = rows.selected[known], rows.exposed[known]
        table = _unit_table(
            frame,
            n_districts,
            {
                "households": bin_sums(keys, selected, n_units),
                "amount": bin_sums(keys, rows.amount[known], n_units),
                "exposed": bin_sums(keys, exposed, n_units),
                "reached": bin_sums(keys, selected & exposed, n_units),
            },
            observed=np.bincount(keys, minlength=n_units) > 0,
        )
        total = checked_total(rows.amount, f"amount of caseload {tag.upper()}")
        return _side_table(table.set_index(_KEYS), tag), total

    (side_a, a_amount), (side_b, b_amount) = per_side(ra, "a"), per_side(rb, "b")
    return _Parts(
        ids_a=ids_a,
        ids_b=ids_b,
        in_b=in_b,
        in_a=in_a,
        counts=counts,
        side_a=side_a,
        side_b=side_b,
        a_amount=a_amount,
        b_amount=b_amount,
        a_coverage=_coverage(ra.selected, ra.exposed),
        b_coverage=_coverage(rb.selected, rb.exposed),
    )


def _unit_table(
    frame: pd.DataFrame, n_districts: int, values: dict[str, np.ndarray], observed: np.ndarray
) -> pd.DataFrame:
    """Per observed (province, district) unit: its names and ``values`` (as int64)."""
    units = np.flatnonzero(observed)
    provinces = frame["province"].cat.categories
    districts = frame["district"].cat.categories
    table = pd.DataFrame(
        {
            "province": np.asarray(provinces[units // n_districts].astype(str), dtype=object),
            "district": np.asarray(districts[units % n_districts].astype(str), dtype=object),
        }
    )
    for name, column in values.items():
        table[name] = np.asarray(column)[units].astype(np.int64)
    return table


def _comparison(parts: _Parts) -> Comparison:
    """Assemble the comparison from its parts (either way of matching households)."""
    ids_a, ids_b, in_b, in_a = parts.ids_a, parts.ids_b, parts.in_b, parts.in_a
    status = pd.concat(
        [
            pd.DataFrame({"household_id": ids_a, "status": np.where(in_b, "kept", "dropped")}),
            pd.DataFrame({"household_id": ids_b[~in_a], "status": "added"}),
        ]
    ).sort_values("household_id", ignore_index=True)
    table = parts.side_a.merge(parts.side_b, on=_KEYS, how="outer")
    table = table.merge(parts.counts, on=_KEYS, how="left").sort_values(_KEYS, ignore_index=True)
    for col in table.columns:
        if col not in _KEYS and not col.endswith("coverage"):
            table[col] = table[col].fillna(0).astype(np.int64)
    totals = {
        "a_selected": len(ids_a),
        "b_selected": len(ids_b),
        "added": int((~in_a).sum()),
        "dropped": int((~in_b).sum()),
        "kept": int(in_b.sum()),
        "a_amount": parts.a_amount,
        "b_amount": parts.b_amount,
        "amount_change": parts.b_amount - parts.a_amount,
        "a_exposed_reached_share": parts.a_coverage,
        "b_exposed_reached_share": parts.b_coverage,
    }
    return Comparison(totals=totals, by_district=table, households=status)
