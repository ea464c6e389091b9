"""Households a claims check referred to registration, as demand points of the outreach plan.

``rahat claims check`` writes ``registration_referrals.csv``
(:mod:`rahat.engine.claims.referrals`): referred claimants counted per stated tehsil and grid
cell. :func:`place_referrals` turns its rows into demand points with weight ``households``:

* a row with a cell centre (``cell_lon``, ``cell_lat``) at that point (``source`` ``referral``);
* a row without one at the centroid (plain mean of the coordinates) of its district's demand
  points (``source`` ``referral_district``), when its stated ``tehsil`` names a district the
  gap table planned **by code**: a district P-code of the gap table's district rows (its
  ``pcode``), or a code of Rahat's gazetteer (:func:`rahat.geo.units.gazetteer`) of a district
  or of a tehsil, taken to its district. Names are not matched (a tehsil name is not unique
  across districts);
* any other row is not placed: counted (rows and households) and listed by its tehsil text,
  never dropped silently.

The referred households are added on top of the gap table's estimate: they are known people,
the estimate is a model's count, and the two may overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.claims.referrals import REFERRAL_COLUMNS
from rahat.engine.gap.outreach_inputs import Demand, district_shapes, unit_names
from rahat.geo.errors import InputError

#: Unplaced tehsil texts listed in the report (all are counted).
UNPLACED_LISTED = 20
#: How a row with no stated tehsil is listed among the unplaced.
NO_TEHSIL = "(no tehsil stated)"


@dataclass(frozen=True)
class Referrals:
    """Referred households placed as demand points, and what could not be placed.

    Attributes
    ----------
    points
        ``lon``, ``lat``, ``unit`` (district; ``""`` for a cell outside the planned districts),
        ``households`` and ``source`` (``referral`` or ``referral_district``).
    figures
        JSON-ready counts: ``rows``, ``households``, ``placed_at_cell``,
        ``placed_at_district``, ``unplaced_rows``, ``unplaced_households`` and ``unplaced``
        (tehsil text, or :data:`NO_TEHSIL`, -> households; the first :data:`UNPLACED_LISTED`).
    """

    points: pd.DataFrame
    figures: dict[str, Any]


def _checked(frame: pd.DataFrame) -> pd.DataFrame:
    """The referrals with numeric counts and coordinates (NaN where not a valid location)."""
    missing = [c for c in REFERRAL_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"--referrals lacks column(s) {', '.join(missing)}; "
            "give registration_referrals.csv written by `rahat claims check`"
        )
    households = pd.to_numeric(frame["households"], errors="coerce")
    bad = np.flatnonzero(~(households >= 0).to_numpy())
    if len(bad):
        raise InputError(
            f"--referrals: {len(bad)} row(s) without a households count >= 0 "
            f"(first row {int(bad[0]) + 1})"
        )
    lon = pd.to_numeric(frame["cell_lon"], errors="coerce")
    lat = pd.to_numeric(frame["cell_lat"], errors="coerce")
    located = lon.between(-180, 180) & lat.between(-90, 90)
    return pd.DataFrame(
        {
            "tehsil": frame["tehsil"].fillna("").astype(str).str.strip().to_numpy(object),
            "lon": lon.where(located).to_numpy(np.float64),
            "lat": lat.where(located).to_numpy(np.float64),
            "households": households.to_numpy(np.float64),
        }
    )


def _district_codes(table: pd.DataFrame) -> dict[str, str]:
    """District name (the demand's ``unit``) of each code a referral may state, upper case.

    The gazetteer's district and tehsil codes first, then the gap table's district P-codes.
    """
    from rahat.geo.units import Level, gazetteer

    units = gazetteer().units
    names: dict[str, str] = {}
    for code, unit in units.items():
        if unit.level is Level.DISTRICT:
            names[code] = unit.name
        elif unit.level is Level.TEHSIL and unit.parent is not None:
            parent = units.get(unit.parent.upper())
            if parent is not None and parent.level is Level.DISTRICT:
                names[code] = parent.name
    rows = table[table["level"].astype(str) == "district"]
    if "pcode" in rows and len(rows):
        pcodes = rows["pcode"].fillna("").astype(str).str.strip().str.upper()
        district = unit_names(rows, district_shapes())
        names.update({p: d for p, d in zip(pcodes, district, strict=True) if p})
    return names


def place_referrals(frame: pd.DataFrame, table: pd.DataFrame, demand: Demand) -> Referrals:
    """Place the referrals' households as demand points (see the module).

    Parameters
    ----------
    frame
        ``registration_referrals.csv`` as read (:data:`REFERRAL_COLUMNS`).
    table
        The gap table the plan reads (its district rows' ``pcode``).
    demand
        :func:`~rahat.engine.gap.outreach_inputs.demand_points`' result for that table.

    Returns
    -------
    Referrals
        The points and the counts of what was placed where, and what was not.

    Raises
    ------
    InputError
        A missing column, or a households count that is not a number >= 0.
    """
    rows = _checked(frame)
    at_cell = rows["lon"].notna().to_numpy()
    points = demand.points
    centroid = points.groupby(points["unit"].astype(str))[["lon", "lat"]].mean()
    names = _district_codes(table)
    district = rows["tehsil"].str.upper().map(names).fillna("")
    at_district = ~at_cell & district.isin(centroid.index).to_numpy()
    unplaced = ~at_cell & ~at_district
    where = centroid.reindex(district[at_district])
    cells = rows[at_cell]
    placed = pd.concat(
        [
            pd.DataFrame(
                {
                    "lon": cells["lon"].to_numpy(),
                    "lat": cells["lat"].to_numpy(),
                    "unit": _cell_districts(cells["lon"].to_numpy(), cells["lat"].to_numpy()),
                    "households": cells["households"].to_numpy(),
                    "source": "referral",
                }
            ),
            pd.DataFrame(
                {
                    "lon": where["lon"].to_numpy(np.float64),
                    "lat": where["lat"].to_numpy(np.float64),
                    "unit": district[at_district].to_numpy(object),
                    "households": rows["households"][at_district].to_numpy(),
                    "source": "referral_district",
                }
            ),
        ],
        ignore_index=True,
    )
    lost = rows[unplaced].groupby("tehsil", sort=True)["households"].sum()
    figures = {
        "rows": len(rows),
        "households": round(float(rows["households"].sum()), 1),
        "placed_at_cell": round(float(rows["households"][at_cell].sum()), 1),
        "placed_at_district": round(float(rows["households"][at_district].sum()), 1),
        "unplaced_rows": int(unplaced.sum()),
        "unplaced_households": round(float(rows["households"][unplaced].sum()), 1),
        "unplaced": {
            str(k) or NO_TEHSIL: round(float(v), 1) for k, v in lost.head(UNPLACED_LISTED).items()
        },
    }
    kept = placed[placed["households"] > 0].reset_index(drop=True)
    return Referrals(points=kept, figures=figures)


def _cell_districts(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """District name of each cell centre (``""`` outside every district), for the map."""
    from rahat.engine.gap.outreach_inputs import site_districts

    if not len(lon):
        return np.empty(0, dtype=object)
    return site_districts(lon, lat)


def with_referrals(demand: Demand, referrals: Referrals) -> tuple[Demand, np.ndarray]:
    """``demand`` with the referred points appended, and which points are referred."""
    from dataclasses import replace

    referred = np.r_[np.zeros(len(demand.points), bool), np.ones(len(referrals.points), bool)]
    if referrals.points.empty:  # nothing placed: keep the demand's columns and their types
        return demand, referred
    points = pd.concat([demand.points, referrals.points], ignore_index=True)
    return replace(demand, points=points), referred
