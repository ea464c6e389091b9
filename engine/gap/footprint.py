"""The gap table cut by a hazard footprint: who lives in it, and whom the registry misses there.

A place is *in* the footprint where its hazard class is at least 1, as everywhere in the engine
(:func:`rahat.engine.overlay.sample_hazard`, each layer in its own CRS, never resampled). Per
unit (province, district, tehsil) touching the footprint, a ``*_footprint`` row gives:

* ``registered`` and ``stale_records``: **exact** counts of the registry's households located
  in the footprint;
* ``households_est`` and the unregistered bottom-40 % estimate with its interval: the unit's
  figures times the **share of its households inside the footprint**. That share is taken,
  in order of preference, from a population raster (people per cell in the footprint over
  people per cell in the unit; districts by their polygons, tehsils where they have one, i.e.
  Sindh), from the survey's own household locations (weighted) where the survey has
  ``lon``/``lat``, else from the registry's households. The source used is reported
  (``footprint_share_source``, with counts per level).

The assumption: **inside a unit, the unregistered poor are spread like its households** (the
footprint holds the same share of each). Where exclusion is concentrated in remote parts of a
unit this under- or over-states the footprint's gap; the registry source also assumes the
unregistered live where the registered do. The interval is the unit's scaled by the share
(the share is taken as known).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from rahat.geo.hazards.layer import HazardLayer

#: Level of each footprint row, by the level of the unit it cuts.
FOOTPRINT_LEVELS: dict[str, str] = {
    "province": "province_footprint",
    "district": "district_footprint",
    "tehsil": "tehsil_footprint",
}
#: Where a unit's footprint share may come from, in order of preference.
SHARE_SOURCES: tuple[str, ...] = ("population_raster", "survey", "registry")
#: Surveyed households a unit needs before its survey share is used (a few clusters inside or
#: outside a footprint say little about the unit's households); else the registry's share.
SURVEY_SHARE_MIN_HOUSEHOLDS = 100
_SCALED = (
    "households_est",
    "unregistered_b40_est",
    "unregistered_b40_lo90",
    "unregistered_b40_hi90",
)


@dataclass(frozen=True)
class Footprint:
    """A hazard footprint to cut the gap table by, and how to share units' households.

    Attributes
    ----------
    layer
        The hazard layer (:func:`rahat.geo.hazards.read_hazard`).
    population_raster
        A population GeoTIFF (people per cell, with a CRS), or ``None``.
    raster_unit
        What the raster's cells count (must be ``people``; ``None``: the file's own tag).
    """

    layer: HazardLayer
    population_raster: Path | None = None
    raster_unit: str | None = None


def in_footprint(layer: HazardLayer, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point (WGS 84) lies in the footprint: hazard class at least 1."""
    from rahat.engine.overlay import sample_hazard

    if len(lon) == 0:
        return np.zeros(0, dtype=bool)
    return sample_hazard(layer, lon, lat).hazard_class >= 1


def _survey_shares(keys: np.ndarray, inside: np.ndarray, weight: np.ndarray | None) -> pd.Series:
    """:func:`_shares` of the units with :data:`SURVEY_SHARE_MIN_HOUSEHOLDS` surveyed households."""
    shares = _shares(keys, inside, weight)
    known = keys[pd.notna(keys)]
    counts = pd.Series(1, index=known).groupby(level=0).size()
    return shares[counts.reindex(shares.index, fill_value=0) >= SURVEY_SHARE_MIN_HOUSEHOLDS]


def _shares(keys: np.ndarray, inside: np.ndarray, weight: np.ndarray | None) -> pd.Series:
    """Weighted share of each key's points inside (keys ``None`` left out)."""
    keep = pd.notna(keys)
    w = np.ones(int(keep.sum())) if weight is None else np.asarray(weight, np.float64)[keep]
    frame = pd.DataFrame({"key": keys[keep], "all": w, "in": w * inside[keep]})
    sums = frame.groupby("key")[["all", "in"]].sum()
    return (sums["in"] / sums["all"]).where(sums["all"] > 0)


def raster_shares(footprint: Footprint) -> dict[str, pd.Series]:
    """Shares of each unit's people inside the footprint, from the population raster.

    Districts (keyed ``province|district``) and provinces from the district polygons, Sindh
    tehsils (keyed by P-code, their unit code) from theirs; units whose polygon holds no
    people of the raster are left out (another source is used for them).

    Raises
    ------
    rahat.geo.errors.InputError
        A raster without a declared unit of people.
    rahat.geo.errors.CRSError
        A raster without a CRS.
    """
    from rahat.geo.denominators import allocate, district_households, unit_polygons

    assert footprint.population_raster is not None
    out: dict[str, pd.Series] = {}
    for level in ("district", "tehsil"):
        polygons = unit_polygons(level)
        cells = allocate(
            pd.Series(1.0, index=polygons["code"].astype(str).to_numpy()),
            footprint.population_raster,
            units=polygons,
            raster_unit=footprint.raster_unit,
        ).places
        cells = cells[cells["source"] == "raster"]
        lon, lat = cells["lon"].to_numpy(), cells["lat"].to_numpy()
        inside = in_footprint(footprint.layer, lon, lat)
        codes = cells["unit"].to_numpy(dtype=object)
        weight = cells["weight"].to_numpy()
        if level == "tehsil":
            out["tehsil"] = _shares(codes, inside, weight)
            continue
        census = district_households()
        keys = census["province"].astype(str) + "|" + census["district"].astype(str)
        key_of = dict(zip(census["code"], keys, strict=True))
        province_of = dict(zip(census["code"], census["province"].astype(str), strict=True))
        out["district"] = _shares(np.array([key_of[c] for c in codes], object), inside, weight)
        provinces = np.array([province_of[c] for c in codes], object)
        out["province"] = _shares(provinces, inside, weight)
    return out


def footprint_rows(
    rows: dict[str, pd.DataFrame],
    registry_keys: dict[str, np.ndarray],
    registry_inside: np.ndarray,
    stale: np.ndarray,
    survey_keys: dict[str, np.ndarray] | None,
    survey_inside: np.ndarray | None,
    survey_weight: np.ndarray | None,
    raster: dict[str, pd.Series] | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ``*_footprint`` rows of every unit touching the footprint (module docstring).

    Parameters
    ----------
    rows
        Per level (``province``, ``district``, ``tehsil``), the unit rows indexed by key.
    registry_keys
        Per level, each registered household's unit key.
    registry_inside
        Whether each registered household lies in the footprint.
    stale
        Whether each registered household's record is stale.
    survey_keys, survey_inside, survey_weight
        The same for the surveyed households, or ``None`` (a survey without ``lon``/``lat``).
    raster
        :func:`raster_shares`, or ``None``.

    Returns
    -------
    tuple
        The footprint rows (the unit rows' columns; ``level`` one of
        :data:`FOOTPRINT_LEVELS`), and the report: ``footprint_share_source`` (the first
        source used) and ``footprint_share_sources`` (units per level and source).
    """
    out = []
    sources: dict[str, dict[str, int]] = {}
    for level, base in rows.items():
        keys = registry_keys[level]
        candidates = {
            "population_raster": None if raster is None else raster.get(level),
            "survey": None
            if survey_keys is None or survey_inside is None
            else _survey_shares(survey_keys[level], survey_inside, survey_weight),
            "registry": _shares(keys, registry_inside, None),
        }
        share = pd.Series(np.nan, index=base.index)
        source = pd.Series("none", index=base.index, dtype=object)
        for name in SHARE_SOURCES:
            found = candidates[name]
            if found is None:
                continue
            use = share.isna() & base.index.isin(found.dropna().index)
            share[use] = found.reindex(base.index)[use]
            source[use] = name
        share = share.fillna(0.0)
        counted = pd.DataFrame(
            {"key": keys, "in": registry_inside, "stale": stale & registry_inside}
        )
        exact = counted[pd.notna(keys)].groupby("key")[["in", "stale"]].sum()
        exact = exact.reindex(base.index, fill_value=0)
        cut = base.copy()
        cut["level"] = FOOTPRINT_LEVELS[level]
        for column in _SCALED:
            cut[column] = base[column].to_numpy(np.float64) * share.to_numpy()
        cut["registered"] = exact["in"].to_numpy(np.float64)
        # never fewer households in the footprint than the registry holds there
        cut["households_est"] = np.maximum(cut["households_est"], cut["registered"])
        cut["stale_records"] = exact["stale"].to_numpy(np.int64)
        touching = (share > 0).to_numpy() | (cut["registered"] > 0).to_numpy()
        out.append(cut[touching])
        used = source[touching].value_counts().sort_index()
        sources[level] = {str(k): int(v) for k, v in used.items()}
    used_names = {name for counts in sources.values() for name in counts}
    first = next((name for name in SHARE_SOURCES if name in used_names), "none")
    report = {"footprint_share_source": first, "footprint_share_sources": sources}
    return pd.concat(out), report
