"""Claimants to refer to registration, aggregated for the outreach plan (``rahat gap plan``).

A claim is **referred** when its decision is ``not_registered_in_footprint``: no household of
the registry has the CNIC and the stated tehsil or location lies in the run's footprint
(:mod:`rahat.engine.claims.run`). Referred claims are counted per stated tehsil (as the
claimant wrote it, P-code or name: grouped without case, the first spelling written kept) and,
where the claim has a valid location, per :data:`~rahat.engine.claims.run.CELL_DEGREES` grid
cell (:func:`~rahat.engine.claims.run.cell_keys`), given by its centre. Each row has

* ``claims``: the referred claims in it;
* ``households``: the households they stand for. Claims in one probable-duplicate group
  (:attr:`rahat.engine.claims.duplicates.DuplicateGroups.group`) count once, in the row of the
  group's first referred claim (file order), so the rows add up to the households referred;
  a row may then have claims and no household of its own.

No row is written per person and no CNIC, phone, token, name, address or claim row number
appears: a row is a place and two counts. Rows are in order of the case-folded tehsil (no
tehsil first), then of the cell (no location first). A claims check without a run decides no
claim ``not_registered_in_footprint`` (the footprint is unknown): the file then has its header
only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rahat.engine.claims.decide import CODES, ClaimDecisions
from rahat.engine.claims.lookup import fold_codes
from rahat.engine.claims.read import Claims
from rahat.engine.claims.run import CELL_DEGREES, cell_keys

if TYPE_CHECKING:
    from rahat.engine.claims.duplicates import DuplicateGroups

#: The decision whose claimants are referred to registration.
REFERRED = "not_registered_in_footprint"
#: File name of the referrals (also what ``rahat gap plan --referrals`` reads).
REFERRALS_FILE = "registration_referrals.csv"
#: Columns of the referrals file; ``cell_lon``/``cell_lat`` are empty for a row without location.
REFERRAL_COLUMNS: tuple[str, ...] = ("tehsil", "cell_lon", "cell_lat", "claims", "households")
#: Offset and multiplier of :func:`rahat.engine.claims.run.cell_keys` (its inverse below).
_OFFSET, _BASE = 10_000, 100_000


def cell_centres(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(lon, lat)`` of each :func:`~rahat.engine.claims.run.cell_keys` cell (NaN for -1).

    Examples
    --------
    >>> lon, lat = cell_centres(cell_keys(np.array([67.01, np.nan]), np.array([24.86, 1.0])))
    >>> [round(float(v), 6) for v in (lon[0], lat[0])], bool(np.isnan(lon[1]))
    ([67.025, 24.875], True)
    """
    keys = np.asarray(keys, dtype=np.int64)
    ok = keys >= 0
    ix = keys // _BASE - _OFFSET
    iy = keys % _BASE - _OFFSET
    lon = np.where(ok, (ix + 0.5) * CELL_DEGREES, np.nan)
    lat = np.where(ok, (iy + 0.5) * CELL_DEGREES, np.nan)
    return lon, lat


def referrals_frame(
    claims: Claims, decided: ClaimDecisions, groups: DuplicateGroups
) -> pd.DataFrame:
    """The referrals file: :data:`REFERRAL_COLUMNS` per stated tehsil and grid cell.

    Parameters
    ----------
    claims, decided
        The batch and its decisions.
    groups
        The probable households among the unregistered
        (:func:`rahat.engine.claims.duplicates.group_unregistered`).

    Returns
    -------
    pandas.DataFrame
        One row per (tehsil, cell) holding a referred claim; see the module for the counts.
    """
    take = np.flatnonzero(decided.decision == CODES.index(REFERRED))
    stated = np.asarray(claims.stated_tehsil, dtype=object)[take]
    codes, folded = fold_codes(stated)  # codes -1 (none stated) index the trailing ""
    key = folded[codes]
    cell = cell_keys(claims.lon[take], claims.lat[take])
    group = np.asarray(groups.group)[take]
    household = np.where(group > 0, group, -(take.astype(np.int64) + 1))  # one per ungrouped
    first = ~pd.Series(household).duplicated(keep="first").to_numpy()
    frame = pd.DataFrame(
        {
            "key": key,
            "cell": cell,
            "written": np.where(pd.isna(stated), "", stated).astype(object),
            "claims": np.ones(len(take), dtype=np.int64),
            "households": first.astype(np.int64),
        }
    )
    rows = frame.groupby(["key", "cell"], sort=True).agg(
        written=("written", "first"), claims=("claims", "sum"), households=("households", "sum")
    )
    cells = rows.index.get_level_values("cell").to_numpy(np.int64)
    lon, lat = cell_centres(cells)
    return pd.DataFrame(
        {
            "tehsil": rows["written"].to_numpy(dtype=object),
            "cell_lon": np.round(lon, 6),
            "cell_lat": np.round(lat, 6),
            "claims": rows["claims"].to_numpy(np.int64),
            "households": rows["households"].to_numpy(np.int64),
        }
    )[list(REFERRAL_COLUMNS)]


def referrals_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Totals of a :func:`referrals_frame` for the report: claims, households, rows, located."""
    located = table["cell_lon"].notna().to_numpy()
    return {
        "file": REFERRALS_FILE,
        "claims": int(table["claims"].sum()),
        "households": int(table["households"].sum()),
        "rows": len(table),
        "claims_with_location": int(table["claims"].to_numpy()[located].sum()),
    }
