"""The whole gap table: provinces, districts, tehsils, and each cut by a footprint.

:func:`gap_table` puts together the province and district rows
(:mod:`rahat.engine.gap.estimate`), the tehsil rows benchmarked to their districts
(:mod:`rahat.engine.gap.tehsils`) and, given a footprint, the ``*_footprint`` rows
(:mod:`rahat.engine.gap.footprint`), with a report of every unit that did not match and of
where the figures came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.gap.direct import b40_threshold
from rahat.engine.gap.estimate import (
    GAP_COLUMNS,
    GapOptions,
    province_district_rows,
    registered_only,
    stale_records,
)
from rahat.engine.gap.footprint import Footprint, footprint_rows, in_footprint, raster_shares
from rahat.engine.gap.tehsils import district_keys, named, tehsil_rows, unit_codes
from rahat.geo.errors import InputError
from rahat.geo.units import Level, factorize_rows

#: What the report says of the tehsil rows (also in the manifest).
TEHSIL_NOTE = (
    "tehsil households and unregistered bottom-40% estimates (with their interval bounds) are "
    "ratio-benchmarked to their district's, so the tehsils of a district add up to it"
)
FOOTPRINT_NOTE = (
    "footprint rows: registered and stale_records are exact counts of registry households in "
    "the footprint; households and unregistered estimates are the unit's times the share of its "
    "households in the footprint (footprint_share_source), assuming the unregistered poor are "
    "spread inside a unit like its households"
)


@dataclass(frozen=True)
class GapResult:
    """The gap table and what the caller needs besides it.

    Attributes
    ----------
    table
        :data:`~rahat.engine.gap.estimate.GAP_COLUMNS`.
    keys
        Each row's unit key, aligned with ``table``: the province's name, ``province|district``
        for districts, the tehsil's unit code (:mod:`rahat.geo.units`) for tehsils.
    report
        JSON-ready: units that did not match (counts and first names), where the tehsil
        households came from, the footprint share source, and notes.
    """

    table: pd.DataFrame
    keys: pd.Series
    report: dict[str, Any] = field(default_factory=dict)


def gap_table(
    survey: pd.DataFrame,
    registry: pd.DataFrame,
    households: pd.DataFrame | None = None,
    options: GapOptions | None = None,
    *,
    tehsil_households: pd.DataFrame | None = None,
    footprint: Footprint | None = None,
) -> GapResult:
    """Estimate the gap per province, district and tehsil, and in a footprint.

    Parameters
    ----------
    survey
        The survey, with design weights and registration status (``tehsil`` for tehsil rows,
        ``lon``/``lat`` optional).
    registry
        The registry (``province``, ``district``, ``pmt_score``; ``tehsil``, ``tehsil_pcode``,
        ``urban``, ``last_updated``, ``lon``/``lat`` where known).
    households
        Census households per district (``province``, ``district``, ``households``), or
        ``None`` for the survey's estimates.
    options
        Direct-estimate rule and bootstrap settings.
    tehsil_households
        Households per tehsil: ``code`` (unit code, ``None`` where the census tehsil matches no
        unit), ``households``, ``province``, ``district``, ``tehsil``; or ``None``.
    footprint
        A hazard footprint (and optionally a population raster) to cut every unit by.

    Returns
    -------
    GapResult
        Provinces, districts, tehsils, then the footprint rows by level, each sorted by
        province and name.

    Raises
    ------
    rahat.geo.errors.InputError
        For a survey without weights or registration status, a registry without the columns
        needed (``lon``/``lat`` with a footprint), or a population raster without a unit.
    rahat.geo.errors.CRSError
        A population raster without a CRS.
    """
    options = options or GapOptions()
    raster = None  # read first: a raster without a CRS or a unit fails before any estimate
    if footprint is not None and footprint.population_raster is not None:
        raster = raster_shares(footprint)
    provinces, districts = province_district_rows(survey, registry, households, options)
    registered = registered_only(registry)
    report: dict[str, Any] = {"notes": []}
    if households is not None:
        known = set(district_keys(households))
        data = pd.concat([_names(registered), _names(survey)]).drop_duplicates("key")
        report["districts_without_census"] = named(data[~data["key"].isin(known)])
    parts = {"province": provinces, "district": districts}
    codes: dict[str, np.ndarray] = {}
    if "tehsil" in survey and "tehsil" in registered:
        codes = {
            "survey": unit_codes(survey, Level.TEHSIL),
            "registry": unit_codes(registered, Level.TEHSIL),
        }
        tehsils, found = tehsil_rows(
            survey,
            registered,
            (codes["survey"], codes["registry"]),
            b40_threshold(survey),
            tehsil_households,
            districts,
            options,
        )
        report.update(found)
        parts["tehsil"] = tehsils
        report["notes"].append(TEHSIL_NOTE)
    else:
        report["notes"].append("no tehsil rows: the survey or the registry has no tehsil column")
    rows = [part.assign(key=part.index.to_numpy()) for part in parts.values()]
    if footprint is not None:
        cut, found = _footprint(parts, survey, registered, codes, footprint, raster, options)
        report.update(found)
        report["notes"].append(FOOTPRINT_NOTE)
        cut = cut.assign(key=cut.index.to_numpy())
        rows += [cut[cut["level"] == f"{level}_footprint"] for level in parts]
    table = pd.concat(rows, ignore_index=True)
    count = table["households_est"].to_numpy(np.float64)
    table["coverage"] = np.where(  # no households known there: no coverage, not inf
        count > 0, table["registered"].to_numpy(np.float64) / np.maximum(count, 1e-300), np.nan
    )
    province_rows = table["level"].isin(["province", "province_footprint"]).to_numpy()
    table["province"] = np.where(province_rows, table["unit"], table["province"])
    return GapResult(table=table[list(GAP_COLUMNS)], keys=table["key"], report=report)


def _names(frame: pd.DataFrame) -> pd.DataFrame:
    """District key and names of each district of ``frame`` (for the mismatch report)."""
    groups, _ = factorize_rows(frame, ["province", "district"])
    frame = frame.iloc[np.unique(groups, return_index=True)[1]]  # a row per district
    return pd.DataFrame(
        {
            "key": district_keys(frame),
            "unit": frame["district"].astype(str).to_numpy(),
            "district": frame["district"].astype(str).to_numpy(),
            "province": frame["province"].astype(str).to_numpy(),
        }
    )


def _footprint(
    parts: dict[str, pd.DataFrame],
    survey: pd.DataFrame,
    registered: pd.DataFrame,
    codes: dict[str, np.ndarray],
    footprint: Footprint,
    raster: dict[str, pd.Series] | None,
    options: GapOptions,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The footprint rows of every level in ``parts`` and their report."""
    if not {"lon", "lat"} <= set(registered.columns):
        raise InputError("the registry has no lon/lat columns: it cannot be cut by a footprint")

    def keys_of(frame: pd.DataFrame, tehsils: np.ndarray | None) -> dict[str, np.ndarray]:
        out = {
            "province": frame["province"].astype(str).to_numpy(dtype=object),
            "district": district_keys(frame),
        }
        if tehsils is not None:
            out["tehsil"] = tehsils
        return out

    def located(frame: pd.DataFrame) -> np.ndarray:
        lon, lat = frame["lon"].to_numpy(np.float64), frame["lat"].to_numpy(np.float64)
        return in_footprint(footprint.layer, lon, lat)

    has_survey_places = {"lon", "lat"} <= set(survey.columns)
    rows, report = footprint_rows(
        parts,
        keys_of(registered, codes.get("registry")),
        located(registered),
        stale_records(registered, options),
        keys_of(survey, codes.get("survey")) if has_survey_places else None,
        located(survey) if has_survey_places else None,
        survey["weight"].to_numpy(np.float64) if has_survey_places else None,
        raster,
    )
    report["footprint"] = {
        "name": footprint.layer.name,
        "sha256": footprint.layer.provenance.sha256,
    }
    return rows, report
