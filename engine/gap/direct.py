r"""Direct (design-based) survey estimates of whom the registry misses.

Horvitz-Thompson totals with the survey's design weights, per unit (province or district), of
households, registered households and **unregistered bottom-40 % households** (PMT at or below
the weighted national 40th percentile of the survey), with coverage and with design-based
variances by the *ultimate-cluster* approximation: clusters are the primary sampling units,
drawn with replacement within the strata as given, so the variance of a total ``Y`` is

.. math:: \hat V(\hat Y) = \sum_h \frac{n_h}{n_h - 1} \sum_i (z_{hi} - \bar z_h)^2,

with ``z_hi`` the weighted total of cluster ``i`` of stratum ``h`` (zero outside the unit) and
``n_h`` the clusters drawn in the stratum. Ratios (shares) are linearised:
``z = y - R x`` for ``R = Y / X``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rahat.geo.errors import InputError
from rahat.geo.registry.schema import REGISTERED_COLUMN

#: The poorest share of households whose exclusion is estimated (the "bottom 40 %").
BOTTOM_SHARE = 0.4
#: Survey columns the estimates need.
SURVEY_NEEDS: tuple[str, ...] = ("weight", REGISTERED_COLUMN, "pmt_score", "stratum", "cluster")
#: Columns of :func:`direct_estimates`.
DIRECT_COLUMNS: tuple[str, ...] = (
    "province",
    "unit",
    "pcode",
    "n_households",
    "n_clusters",
    "households_ht",
    "households_var",
    "registered_ht",
    "registered_var",
    "coverage",
    "coverage_var",
    "unregistered_b40_ht",
    "unregistered_b40_var",
    "unregistered_b40_share",
    "unregistered_b40_share_var",
)


def check_survey(survey: pd.DataFrame, level: str | None = None) -> None:
    """Raise :class:`~rahat.geo.errors.InputError` unless ``survey`` can be estimated from.

    Parameters
    ----------
    survey
        The survey (:data:`rahat.geo.registry.survey.SURVEY_COLUMNS`).
    level
        ``"province"``, ``"district"`` or ``"tehsil"``: that unit's columns are needed too (P-codes
        are optional: a real survey outside Sindh has none).
    """
    needs = list(SURVEY_NEEDS)
    if level == "province":
        needs += ["province"]
    elif level == "district":
        needs += ["province", "district"]
    elif level == "tehsil":
        needs += ["province", "district", "tehsil"]
    missing = [c for c in needs if c not in survey]
    if missing:
        what = {"weight": "design weights", REGISTERED_COLUMN: "registration status"}
        named = ", ".join(f"{c!r} ({what[c]})" if c in what else repr(c) for c in missing)
        raise InputError(f"the survey has no {named} column: it cannot estimate the coverage gap")
    weight = survey["weight"].to_numpy(np.float64)
    if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
        raise InputError("the survey's design weights must all be positive numbers")
    status = survey[REGISTERED_COLUMN]
    if status.isna().any():
        raise InputError("the survey's registration status is missing for some households")
    if not pd.api.types.is_bool_dtype(status):
        values = pd.unique(status.to_numpy())
        numeric = pd.api.types.is_numeric_dtype(status)
        if not numeric or not set(np.asarray(values, dtype=np.float64).tolist()) <= {0.0, 1.0}:
            shown = ", ".join(repr(v) for v in values[:5])
            raise InputError(
                "the survey's registration status must be true/false (or 1/0); found "
                f"{shown}{' ...' if len(values) > 5 else ''}"
            )


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value at or below which a weighted share ``q`` of the households lies."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1], side="left")])


def b40_threshold(survey: pd.DataFrame) -> float:
    """The survey's weighted national 40th percentile of PMT (bottom 40 %: at or below it)."""
    check_survey(survey)
    return weighted_quantile(
        survey["pmt_score"].to_numpy(np.float64),
        survey["weight"].to_numpy(np.float64),
        BOTTOM_SHARE,
    )


def _cluster_variance(
    values: np.ndarray, unit: np.ndarray, n_units: int, psu: np.ndarray, psu_stratum: np.ndarray
) -> np.ndarray:
    """Ultimate-cluster variance, per unit, of the total of the weighted ``values``.

    ``values`` holds each household's weighted contribution to its own unit's total (zero to
    every other unit); ``psu`` each household's cluster code and ``psu_stratum`` each cluster's
    stratum.
    """
    totals = np.zeros((len(psu_stratum), n_units))
    np.add.at(totals, (psu, unit), values)
    variance = np.zeros(n_units)
    for h in np.unique(psu_stratum):
        t = totals[psu_stratum == h]
        n_h = len(t)
        if n_h > 1:
            variance += n_h / (n_h - 1) * ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    return variance


def direct_estimates(
    survey: pd.DataFrame,
    level: str = "district",
    threshold: float | None = None,
    keys: np.ndarray | None = None,
) -> pd.DataFrame:
    """Horvitz-Thompson estimates and their design variances per unit of ``level``.

    Parameters
    ----------
    survey
        The survey: ``weight``, ``registered``, ``pmt_score``, ``stratum``, ``cluster`` and the
        unit's columns (``province``; or ``district`` and ``district_pcode``; or ``district``,
        ``tehsil`` and optionally ``tehsil_pcode``).
    level
        ``"province"``, ``"district"`` or ``"tehsil"``.
    threshold
        PMT at or below which a household is in the bottom 40 %; default :func:`b40_threshold`.
    keys
        Each surveyed household's unit key (for tehsils: the unit code of
        :meth:`rahat.geo.units.Gazetteer.codes_of`); default: the province's name, or
        ``province|district`` for districts. Households with a ``None`` key are left out.

    Returns
    -------
    pandas.DataFrame
        :data:`DIRECT_COLUMNS` and ``key``, one row per unit with a surveyed household, sorted
        by key (``pcode`` is the province's name for provinces, ``""`` for a unit without
        one). Variances of a unit with one cluster per stratum are zero (no second cluster to
        compare with).

    Raises
    ------
    rahat.geo.errors.InputError
        For a survey without weights, registration status or the other columns needed.
    """
    if level not in ("province", "district", "tehsil"):
        raise InputError(f"level must be 'province', 'district' or 'tehsil', got {level!r}")
    check_survey(survey, level)
    if threshold is None:
        threshold = b40_threshold(survey)
    names = survey[level].astype(str).to_numpy(dtype=object)
    if keys is not None:
        keep = pd.notna(keys)
        if not keep.all():  # households without a unit at this level
            survey, names, keys = survey[keep], names[keep], np.asarray(keys)[keep]
        key = np.asarray(keys, dtype=object)
    elif level == "province":
        key = names
    else:  # units by name (within their province): pcodes are known only for some districts
        key = survey["province"].astype(str).to_numpy() + "|" + names
    unit_code, units = pd.factorize(key, sort=True)
    if (unit_code < 0).any():
        raise InputError(f"some surveyed households have no {level}")
    strata = survey["stratum"].astype(str).to_numpy()
    psu, psu_index = pd.factorize(pd.MultiIndex.from_arrays([strata, survey["cluster"]]))
    psu_stratum = np.asarray(psu_index.get_level_values(0))

    w = survey["weight"].to_numpy(np.float64)
    registered = survey[REGISTERED_COLUMN].to_numpy(bool)
    gap = ~registered & (survey["pmt_score"].to_numpy(np.float64) <= threshold)
    k = len(units)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(unit_code, weights=w * values, minlength=k)

    def variance(values: np.ndarray) -> np.ndarray:
        return _cluster_variance(w * values, unit_code, k, psu, psu_stratum)

    ones = np.ones(len(survey))
    households, reg, unreg = total(ones), total(registered), total(gap)
    coverage, share = reg / households, unreg / households
    var = {
        "households": variance(ones),
        "registered": variance(registered),
        "b40": variance(gap),
        # ratios, linearised: z = y - R x (R of the household's own unit)
        "coverage": variance(registered - coverage[unit_code]) / households**2,
        "share": variance(gap - share[unit_code]) / households**2,
    }
    province = survey["province"].astype(str).groupby(unit_code).first().to_numpy()
    first_name = pd.Series(names).groupby(unit_code).first().to_numpy()
    if level == "province":
        pcodes = first_name
    elif f"{level}_pcode" in survey:
        pcodes = survey[f"{level}_pcode"].astype(object).groupby(unit_code).first().to_numpy()
    else:
        pcodes = np.full(k, "", dtype=object)
    clusters = pd.Series(psu).groupby(unit_code).nunique().to_numpy()
    return pd.DataFrame(
        {
            "province": province,
            "unit": first_name,
            "pcode": pd.Series(pcodes, dtype=object).fillna("").to_numpy(),
            "n_households": np.bincount(unit_code, minlength=k),
            "n_clusters": clusters,
            "households_ht": households,
            "households_var": var["households"],
            "registered_ht": reg,
            "registered_var": var["registered"],
            "coverage": coverage,
            "coverage_var": var["coverage"],
            "unregistered_b40_ht": unreg,
            "unregistered_b40_var": var["b40"],
            "unregistered_b40_share": share,
            "unregistered_b40_share_var": var["share"],
            "key": np.asarray(units, dtype=object),
        }
    )[[*DIRECT_COLUMNS, "key"]]
