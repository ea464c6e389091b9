"""The coverage-gap table: per province and district, whom the registry misses.

:func:`estimate_gap` combines the direct survey estimates (:mod:`rahat.engine.gap.direct`), the
registry and the census denominators into :data:`GAP_COLUMNS`: provinces always direct (their
samples are large); a district ``direct`` where its sample has at least ``min_households``
households and its direct estimate a CV at most ``max_cv``, else ``fay_herriot``
(:mod:`rahat.engine.gap.small_area`), or ``synthetic`` where no household of it was surveyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from rahat.engine.gap.direct import b40_threshold, check_survey, direct_estimates
from rahat.engine.gap.small_area import SmallAreaResult, fay_herriot_shares
from rahat.geo.errors import InputError
from rahat.geo.registry.schema import REGISTERED_COLUMN

#: Columns of the gap table (issue 14, item 7).
GAP_COLUMNS: tuple[str, ...] = (
    "level",
    "unit",
    "pcode",
    "households_est",
    "registered",
    "coverage",
    "unregistered_b40_est",
    "unregistered_b40_lo90",
    "unregistered_b40_hi90",
    "stale_records",
    "method",
)


@dataclass(frozen=True)
class GapOptions:
    """Settings of :func:`estimate_gap`.

    Attributes
    ----------
    min_households
        Surveyed households a district needs for its direct estimate.
    max_cv
        Largest coefficient of variation of a direct estimate still used as it is.
    bootstrap
        Replicates of the parametric bootstrap of the Fay-Herriot MSE.
    seed
        Seed of the bootstrap.
    stale_years
        A registry record not updated for more than this many years counts as stale.
    as_of
        Date the records' age is counted to (default: the registry's latest ``last_updated``,
        so the same registry gives the same table whenever it is run).
    """

    min_households: int = 300
    max_cv: float = 0.2
    bootstrap: int = 200
    seed: int = 0
    stale_years: float = 5.0
    as_of: date | None = None


def _key(frame: pd.DataFrame) -> pd.Series:
    return frame["province"].astype(str) + "|" + frame["district"].astype(str)


def district_frame(
    survey: pd.DataFrame,
    registry: pd.DataFrame,
    households: pd.DataFrame | None,
    options: GapOptions | None = None,
) -> pd.DataFrame:
    """Per district: direct estimates, registry counts, covariates and denominators.

    Parameters
    ----------
    survey
        The survey (:func:`rahat.geo.registry.survey.draw_survey`).
    registry
        Registered households with ``province``, ``district``, ``pmt_score`` and optionally
        ``urban`` and ``district_pcode`` (rows with ``registered`` False are ignored).
    households
        Census households per district (``province``, ``district``, ``households``); the
        survey's Horvitz-Thompson estimate where ``None`` or where a district has none, and
        where it has no sample either, its registry count over its province's surveyed
        coverage.

    Returns
    -------
    pandas.DataFrame
        One row per district of the registry, the denominators or the survey.
    """
    threshold = b40_threshold(survey)
    direct = direct_estimates(survey, "district", threshold)
    direct.index = _key(direct.rename(columns={"unit": "district"}))
    if REGISTERED_COLUMN in registry:
        registry = registry[registry[REGISTERED_COLUMN].to_numpy(bool)]
    reg = pd.DataFrame({"key": _key(registry).to_numpy()})
    reg["low"] = registry["pmt_score"].to_numpy(np.float64) <= threshold
    reg["urban"] = registry["urban"].to_numpy(bool) if "urban" in registry else False
    reg["stale"] = stale_records(registry, options or GapOptions())
    by = reg.groupby("key")
    frame = pd.DataFrame(
        {
            "registry": by.size(),
            "registry_low": by["low"].mean(),
            "registry_urban": by["urban"].mean(),
            "stale_records": by["stale"].sum(),
        }
    )
    if households is not None:
        frame = frame.join(households.set_index(_key(households))["households"], how="outer")
    frame = frame.join(direct, how="outer")
    pcodes = registry.get("district_pcode")
    if pcodes is not None:
        first = (
            pd.Series(pcodes.astype(object).to_numpy(), index=reg["key"]).groupby(level=0).first()
        )
        frame["pcode"] = frame["pcode"].fillna(first)
    names = frame.index.to_series().str.split("|", n=1, expand=True)
    frame["province"], frame["unit"] = names[0], names[1]
    if "households" not in frame:
        frame["households"] = np.nan
    frame["households"] = frame["households"].fillna(frame["households_ht"])
    # no census and no sample: the registry's count over its province's surveyed coverage
    coverage = _province_coverage(survey)
    by_coverage = frame["registry"] / frame["province"].map(coverage)
    frame["households"] = frame["households"].fillna(by_coverage.where(by_coverage > 0))
    if frame["households"].isna().any():
        unknown = ", ".join(frame.index[frame["households"].isna()][:5])
        raise InputError(f"no households known for districts {unknown} (no census, no sample)")
    frame["pcode"] = frame["pcode"].fillna("")
    fill = {"registry": 0, "registry_low": 0.0, "registry_urban": 0.0, "stale_records": 0}
    return frame.fillna(fill)


def stale_records(registry: pd.DataFrame, options: GapOptions) -> np.ndarray:
    """Whether each registry record is older than ``options.stale_years`` at ``options.as_of``.

    Records without ``last_updated`` (or a registry without the column) are not counted stale.
    """
    if "last_updated" not in registry:
        return np.zeros(len(registry), dtype=bool)
    updated = pd.to_datetime(registry["last_updated"]).to_numpy("datetime64[s]")
    known = ~np.isnat(updated)
    if options.as_of is not None:
        as_of = np.datetime64(options.as_of, "s")
    elif known.any():
        as_of = updated[known].max()
    else:
        return np.zeros(len(registry), dtype=bool)
    age_days = (as_of - updated).astype("timedelta64[s]").astype(np.float64) / 86_400
    return known & (age_days > options.stale_years * 365.25)


def _province_coverage(survey: pd.DataFrame) -> pd.Series:
    """Weighted share of surveyed households that are registered, per province."""
    weight = survey["weight"].to_numpy(np.float64)
    registered = survey[REGISTERED_COLUMN].to_numpy(bool)
    frame = pd.DataFrame(
        {
            "province": survey["province"].astype(str).to_numpy(),
            "all": weight,
            "registered": weight * registered,
        }
    )
    sums = frame.groupby("province")[["all", "registered"]].sum()
    return sums["registered"] / sums["all"]


def _covariates(frame: pd.DataFrame) -> np.ndarray:
    """Intercept and the covariates that vary between districts.

    A constant one is dropped: a registry without ``urban``, or denominators that make every
    ratio the same.
    """
    households = frame["households"].to_numpy(np.float64)
    candidates = [
        np.clip(frame["registry"].to_numpy(np.float64) / households, 0.0, 1.5),
        frame["registry_low"].to_numpy(np.float64),
        frame["registry_urban"].to_numpy(np.float64),
    ]
    varying = [column for column in candidates if np.ptp(column) > 1e-12]
    return np.column_stack([np.ones(len(frame)), *varying])


def small_area_shares(frame: pd.DataFrame, options: GapOptions) -> SmallAreaResult:
    """Fay-Herriot shares of unregistered bottom-40 % households for the districts of ``frame``.

    The sampling variances are smoothed by a generalised variance function (module docstring of
    :mod:`rahat.engine.gap.small_area`).
    """
    n = frame["n_households"].fillna(0).to_numpy(np.float64)
    sampled = n > 0
    y = frame["unregistered_b40_share"].fillna(0.0).to_numpy(np.float64)
    var = frame["unregistered_b40_share_var"].fillna(0.0).to_numpy(np.float64)
    p = float(np.average(y[sampled], weights=n[sampled]))
    binomial = y * (1 - y) / np.where(sampled, n, 1.0)
    usable = sampled & (var > 0) & (binomial > 0) & (frame["n_clusters"].fillna(0) > 1)
    deff = float(np.median(var[usable] / binomial[usable])) if usable.any() else 1.0
    psi = max(deff, 1.0) * p * (1 - p) / np.where(sampled, n, 1.0)
    return fay_herriot_shares(
        y,
        psi,
        _covariates(frame),
        sampled,
        bootstrap=options.bootstrap,
        seed=options.seed,
        households=frame["households"].to_numpy(np.float64),
    )


def estimate_gap(
    survey: pd.DataFrame,
    registry: pd.DataFrame,
    households: pd.DataFrame | None = None,
    options: GapOptions | None = None,
) -> pd.DataFrame:
    """The gap table: per province and district, households, coverage and unregistered poor.

    Parameters
    ----------
    survey
        The survey, with design weights and registration status.
    registry
        The registry (registered households; see :func:`district_frame`).
    households
        Census households per district (``province``, ``district``, ``households``).
    options
        Direct-estimate rule and bootstrap settings.

    Returns
    -------
    pandas.DataFrame
        :data:`GAP_COLUMNS`: provinces first, then districts, each sorted by name.

    Raises
    ------
    rahat.geo.errors.InputError
        For a survey without weights or registration status, or a registry without the
        columns needed.
    """
    options = options or GapOptions()
    check_survey(survey, "district")
    missing = [c for c in ("province", "district", "pmt_score") if c not in registry]
    if missing:
        raise InputError(f"the registry has no {', '.join(missing)} column")
    frame = district_frame(survey, registry, households, options)
    z = float(norm.ppf(0.95))
    N = frame["households"].to_numpy(np.float64)
    share = frame["unregistered_b40_share"].to_numpy(np.float64)
    sd = np.sqrt(frame["unregistered_b40_share_var"].to_numpy(np.float64))
    cv = np.where(share > 0, sd / np.where(share > 0, share, 1.0), np.inf)
    n = frame["n_households"].fillna(0).to_numpy()
    direct = (n >= options.min_households) & (cv <= options.max_cv)
    model = small_area_shares(frame, options)
    est = np.where(direct, share, model.estimate)
    lo = np.where(direct, np.clip(share - z * sd, 0, 1), model.lower)
    hi = np.where(direct, np.clip(share + z * sd, 0, 1), model.upper)
    districts = pd.DataFrame(
        {
            "level": "district",
            "unit": frame["unit"].to_numpy(),
            "pcode": frame["pcode"].to_numpy(),
            "province": frame["province"].to_numpy(),
            "households_est": N,
            "registered": frame["registry"].to_numpy(np.float64),
            "stale_records": frame["stale_records"].to_numpy(np.int64),
            "unregistered_b40_est": est * N,
            "unregistered_b40_lo90": lo * N,
            "unregistered_b40_hi90": hi * N,
            "method": np.where(direct, "direct", np.where(n > 0, "fay_herriot", "synthetic")),
        }
    )
    provinces = _provinces(survey, districts, z)
    table = pd.concat([provinces, districts], ignore_index=True)
    table["coverage"] = table["registered"] / table["households_est"]
    return table[list(GAP_COLUMNS)]


def _provinces(survey: pd.DataFrame, districts: pd.DataFrame, z: float) -> pd.DataFrame:
    """Province rows: direct ratio estimates scaled to the districts' households."""
    direct = direct_estimates(survey, "province").set_index("unit")
    columns = ["households_est", "registered", "stale_records"]
    totals = districts.groupby("province")[columns].sum()
    share = direct["unregistered_b40_share"].reindex(totals.index)
    sd = np.sqrt(direct["unregistered_b40_share_var"].reindex(totals.index))
    N = totals["households_est"]
    return pd.DataFrame(
        {
            "level": "province",
            "unit": totals.index.to_numpy(),
            "pcode": "",  # provinces have no P-code here
            "households_est": N.to_numpy(),
            "registered": totals["registered"].to_numpy(),
            "stale_records": totals["stale_records"].to_numpy(np.int64),
            "unregistered_b40_est": (share * N).to_numpy(),
            "unregistered_b40_lo90": (np.clip(share - z * sd, 0, 1) * N).to_numpy(),
            "unregistered_b40_hi90": (np.clip(share + z * sd, 0, 1) * N).to_numpy(),
            "method": "direct",
        }
    )
