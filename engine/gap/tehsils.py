"""Tehsil rows of the gap table: small samples, so mostly model-based, benchmarked to districts.

Tehsils are matched **by unit code** (:meth:`rahat.geo.units.Gazetteer.codes_of`: the COD-AB
P-code in Sindh, ``province/district/tehsil`` elsewhere), never by a bare name. Per tehsil of the
registry or the survey:

* **households**: the census figure given for its code (the 2017 census projected to the
  registry's date, :func:`rahat.geo.denominators.tehsil_households`), else the survey's
  Horvitz-Thompson estimate where it has a sample, else its registered households over its
  province's surveyed coverage; then **benchmarked** to its district: the tehsils of a district
  are scaled so that their households add up to the district's (the 2023 district census is
  newer than the 2017 tehsil one, which only says how a district's households split);
* **unregistered bottom 40 %**: the rule of :func:`rahat.engine.gap.estimate.unit_rows`
  (direct where the sample is large, Fay-Herriot where it is small, synthetic where the tehsil
  has no sample), with the district covariates plus the log of the mean distance from the
  tehsil's registered households to their nearest registration centre
  (:func:`rahat.geo.registration_centres.registration_centres`) and the district's estimated
  share; then **benchmarked** (ratio raking) to the district's estimate: each tehsil's estimate
  and interval bounds are multiplied by the district estimate over the sum of its tehsils'
  estimates, so the tehsils of a district add up to it exactly (where all of a district's
  tehsils are estimated at zero, they share its estimate and bounds by households). The
  interval is the tehsil's own, scaled; it does not carry the district's uncertainty.

Units that do not match (registry or survey tehsils without a census figure, census tehsils
without any household, households without a tehsil) are counted and named in the report,
never dropped silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.gap.direct import direct_estimates
from rahat.engine.gap.estimate import (
    GapOptions,
    fill_unregistered_units,
    province_coverage,
    province_low_share,
    stale_records,
    unit_rows,
)
from rahat.geo.units import Level, gazetteer, row_labels

#: Names listed per kind of mismatch in a report (the count is always complete).
FIRST_NAMES = 10
#: Mean Earth radius (km) for the equirectangular distances to registration centres.
_EARTH_KM = 6371.0


def unit_codes(frame: pd.DataFrame, level: Level) -> np.ndarray:
    """Each row's unit code at ``level`` (``None`` where it has none)."""
    return gazetteer().codes_of(frame)[level]


def district_keys(frame: pd.DataFrame) -> np.ndarray:
    """Each row's ``province|district`` key, as the district rows are indexed."""
    return row_labels(frame, ["province", "district"])


def nearest_centre_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance (km, equirectangular) from each point to its nearest registration centre."""
    from scipy.spatial import cKDTree

    from rahat.geo.registration_centres import registration_centres

    centres = registration_centres()
    scale = np.cos(np.radians(30.0))  # Pakistan spans 24-37 N: a few % error at most

    def plane(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.column_stack([np.radians(x) * scale, np.radians(y)]) * _EARTH_KM

    tree = cKDTree(plane(centres["lon"].to_numpy(), centres["lat"].to_numpy()))
    return tree.query(plane(lon, lat))[0]


def named(frame: pd.DataFrame, limit: int = FIRST_NAMES) -> dict[str, Any]:
    """``count`` and the ``first`` names (``tehsil (district, province)``) of ``frame``'s rows."""
    labels = [
        f"{t} ({d}, {p})"
        for t, d, p in zip(frame["unit"], frame["district"], frame["province"], strict=True)
    ]
    return {"count": len(frame), "first": labels[:limit]}


def _info(frame: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Per code: its name, P-code, province, district name and district key."""
    known = pd.notna(codes)
    _, first = np.unique(pd.factorize(codes)[0], return_index=True)
    first = first[known[first]]  # one row per code: the names are the code's
    frame, codes = frame.iloc[first], codes[first]
    pcode = frame["tehsil_pcode"] if "tehsil_pcode" in frame else pd.Series("", index=frame.index)
    info = pd.DataFrame(
        {
            "code": codes,
            "unit": frame["tehsil"].astype(str).to_numpy(),
            "pcode": pcode.astype(object).fillna("").astype(str).to_numpy(),
            "province": frame["province"].astype(str).to_numpy(),
            "district": frame["district"].astype(str).to_numpy(),
            "parent": district_keys(frame),
        }
    )
    return info


def tehsil_frame(
    survey: pd.DataFrame,
    registry: pd.DataFrame,
    codes: tuple[np.ndarray, np.ndarray],
    threshold: float,
    census: pd.DataFrame | None,
    districts: pd.DataFrame,
    options: GapOptions,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per tehsil: direct estimates, registry counts, covariates and denominators.

    Parameters
    ----------
    survey
        The survey (with ``tehsil``; ``tehsil_pcode`` where known).
    registry
        The registered households (with ``tehsil``, optionally ``tehsil_pcode``, ``urban``,
        ``lon``/``lat`` and ``last_updated``).
    codes
        The tehsil codes of the surveyed and of the registered households (:func:`unit_codes`).
    threshold
        The survey's bottom-40 % PMT threshold.
    census
        Households per tehsil: ``code`` (unit code, ``None`` for a census tehsil matching no
        unit), ``households`` and, for the report, ``province``, ``district``, ``tehsil``;
        or ``None`` (survey and registry only).
    districts
        District rows (:func:`rahat.engine.gap.estimate.province_district_rows`), indexed by
        ``province|district``.
    options
        The gap options (stale records' age).

    Returns
    -------
    tuple
        The frame (indexed by tehsil code, with ``parent`` the district key and
        ``denominator`` where its households come from) and the report of mismatches.
    """
    s_codes, r_codes = codes
    direct = direct_estimates(survey, "tehsil", threshold, keys=s_codes).set_index("key")
    reg = pd.DataFrame({"code": r_codes})
    reg["low"] = registry["pmt_score"].to_numpy(np.float64) <= threshold
    reg["urban"] = registry["urban"].to_numpy(bool) if "urban" in registry else False
    reg["stale"] = stale_records(registry, options)
    if {"lon", "lat"} <= set(registry.columns) and len(registry):
        lon, lat = registry["lon"].to_numpy(np.float64), registry["lat"].to_numpy(np.float64)
        reg["distance_km"] = nearest_centre_km(lon, lat)
    else:
        reg["distance_km"] = np.nan
    by = reg[pd.notna(r_codes)].groupby("code")
    frame = pd.concat([_info(registry, r_codes), _info(survey, s_codes)]).drop_duplicates("code")
    frame = frame.set_index("code").join(
        pd.DataFrame(
            {
                "registry": by.size(),
                "registry_low": by["low"].mean(),
                "registry_urban": by["urban"].mean(),
                "stale_records": by["stale"].sum(),
                "distance_km": by["distance_km"].mean(),
            }
        )
    )
    numbers = [c for c in direct.columns if c not in ("province", "unit", "pcode")]
    frame = frame.join(direct[numbers])
    frame = fill_unregistered_units(frame, province_low_share(registry, reg["low"].to_numpy()))
    distance = frame["distance_km"]
    frame["log_distance"] = np.log1p(distance.fillna(distance.mean()).fillna(0.0))
    report: dict[str, Any] = {
        "registry_households_without_tehsil": int(pd.isna(r_codes).sum()),
        "survey_households_without_tehsil": int(pd.isna(s_codes).sum()),
    }
    frame["households"], frame["denominator"] = _households(
        frame, census, survey, options.min_households
    )
    if census is not None:
        known = census[pd.notna(census["code"])]
        no_census = frame[~frame.index.isin(set(known["code"]))]
        report["tehsils_without_census"] = named(no_census)
        without_data = known[~known["code"].isin(set(frame.index))]
        unmatched = census[pd.isna(census["code"])]
        for key, rows in (
            ("census_tehsils_without_households", without_data),
            ("census_tehsils_matching_no_unit", unmatched),
        ):
            report[key] = named(rows.rename(columns={"tehsil": "unit"}))
    report["tehsil_denominators"] = {
        str(k): int(v) for k, v in frame["denominator"].value_counts().sort_index().items()
    }
    # benchmark the households to the district's
    parent_total = frame.groupby("parent")["households"].transform("sum")
    district_n = frame["parent"].map(districts["households_est"])
    frame["households"] *= np.where(parent_total > 0, district_n / parent_total, 1.0)
    if census is None:  # from the survey: never fewer households than the registry holds
        frame["households"] = np.maximum(frame["households"], frame["registry"])
    district_share = districts["unregistered_b40_est"] / districts["households_est"]
    frame["district_share"] = frame["parent"].map(district_share).fillna(0.0)
    order = frame.sort_values(["province", "district", "unit"], kind="stable").index
    return frame.loc[order], report


def _households(
    frame: pd.DataFrame, census: pd.DataFrame | None, survey: pd.DataFrame, min_households: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each tehsil's households before benchmarking, and where they come from.

    The census where it has the tehsil; else the survey's Horvitz-Thompson total where the
    tehsil's sample has at least ``min_households`` households; else its registry count over its
    province's surveyed coverage (a small sample estimates a tehsil's households poorly).
    """
    households = pd.Series(np.nan, index=frame.index)
    source = pd.Series("", index=frame.index, dtype=object)
    if census is not None:
        known = census[pd.notna(census["code"])].groupby("code")["households"].sum()
        households = known.reindex(frame.index).astype(np.float64)
        source[households.notna()] = "census"
    survey_n = frame["households_ht"] if "households_ht" in frame else households * np.nan
    sampled = frame["n_households"].fillna(0) if "n_households" in frame else households * 0
    use = households.isna() & survey_n.notna() & (survey_n > 0) & (sampled >= min_households)
    households[use], source[use] = survey_n[use], "survey"
    coverage = frame["province"].map(province_coverage(survey))
    by_registry = frame["registry"] / coverage
    use = households.isna() & by_registry.notna() & (by_registry > 0)
    households[use], source[use] = by_registry[use], "registry_over_coverage"
    use = households.isna()
    households[use], source[use] = 0.0, "none"  # nothing known: no households, said so
    return households.to_numpy(np.float64), source.to_numpy()


def tehsil_rows(
    survey: pd.DataFrame,
    registry: pd.DataFrame,
    codes: tuple[np.ndarray, np.ndarray],
    threshold: float,
    census: pd.DataFrame | None,
    districts: pd.DataFrame,
    options: GapOptions,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Tehsil rows of the gap table, benchmarked to their districts (module docstring).

    Parameters are those of :func:`tehsil_frame`.

    Returns
    -------
    tuple
        The rows (:data:`~rahat.engine.gap.estimate.GAP_COLUMNS` but ``coverage``, plus
        ``province`` and ``parent``, indexed by tehsil code) and the report.
    """
    frame, report = tehsil_frame(survey, registry, codes, threshold, census, districts, options)
    if frame.empty:
        return frame, report
    rows = unit_rows(frame, "tehsil", options, extra=("log_distance", "district_share"))
    rows["parent"] = frame["parent"]
    columns = ["unregistered_b40_est", "unregistered_b40_lo90", "unregistered_b40_hi90"]
    total = rows.groupby("parent")["unregistered_b40_est"].transform("sum").to_numpy()
    target = rows["parent"].map(districts["unregistered_b40_est"]).to_numpy()
    ratio = np.where(total > 0, target / np.where(total > 0, total, 1.0), 1.0)
    rows[columns] = rows[columns].to_numpy() * ratio[:, None]
    # tehsils all estimated at zero under a district that is not: its figures by households
    households = rows.groupby("parent")["households_est"].transform("sum").to_numpy()
    flat = (total <= 0) & (target > 0) & (households > 0)
    share = rows["households_est"].to_numpy() / np.where(households > 0, households, 1.0)
    bounds = districts.loc[rows["parent"][flat], columns].to_numpy()
    rows.loc[flat, columns] = bounds * share[flat][:, None]
    return rows, report
