"""A sample survey of the synthetic population: stratified, two-stage, with design weights.

What an agency really has besides the registry and the census is a household survey that says,
for each household it visited, whether the household is in the registry and how poor it is
(the World Bank's *Mind the Gap* review of NSER matched 59,456 surveyed households with the
registry). :func:`draw_survey` draws such a survey from the demo population, so estimates of
whom the registry misses can be checked against the population's truth:

* **strata**: province x urban/rural;
* **first stage**: village clusters (the population's ``cluster``: households around the same
  settlement), drawn with probability proportional to their size by systematic sampling within
  each stratum; a cluster larger than the sampling interval is taken with certainty;
* **second stage**: :data:`HOUSEHOLDS_PER_CLUSTER` households per cluster, by simple random
  sampling (all of them in a smaller cluster); a stratum with fewer clusters than it needs
  takes every cluster and as many households of each as reach its share.

The clusters of a stratum share its households in proportion to their sizes (the *number* of
clusters per stratum is proportional to the stratum's households, at least two where it has
two). A household's **design weight** is the inverse of its inclusion probability,
``1 / (P(cluster) * m / M)``, so the weights of a stratum add up to its households exactly.
The survey records each household's true registration status and PMT score, as the matched
survey did; it holds no coordinates (a survey publishes its clusters, not its households).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rahat.geo.errors import InputError
from rahat.geo.files import atomic_write
from rahat.geo.registry.schema import REGISTERED_COLUMN

#: Households visited per cluster (the second stage).
HOUSEHOLDS_PER_CLUSTER = 16
#: Households the survey aims at by default (the size of the matched *Mind the Gap* survey).
SURVEY_HOUSEHOLDS = 60_000
#: The default survey takes at most this share of the population (small demo populations).
MAX_SHARE = 0.05
#: Columns of ``survey.parquet``.
SURVEY_COLUMNS: tuple[str, ...] = (
    "survey_id",
    "household_id",
    "province",
    "district",
    "tehsil",
    "district_pcode",
    "tehsil_pcode",
    "urban",
    "stratum",
    "cluster",
    "weight",
    REGISTERED_COLUMN,
    "pmt_score",
    "household_size",
    "female_headed",
)


def default_survey_size(n_households: int) -> int:
    """Households of the default survey: :data:`SURVEY_HOUSEHOLDS`, at most 5 % of them."""
    return int(min(SURVEY_HOUSEHOLDS, max(HOUSEHOLDS_PER_CLUSTER, MAX_SHARE * n_households)))


def _systematic_pps(
    sizes: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` of the units with probability proportional to ``sizes`` (systematic).

    Every unit at least as large as the sampling interval is taken first, with certainty, and
    the interval recomputed on the others; then one random start and ``n`` equal steps.

    Returns
    -------
    tuple of numpy.ndarray
        The positions drawn (distinct, ascending) and each one's inclusion probability.
    """
    chosen: list[np.ndarray] = []
    probability: list[np.ndarray] = []
    left = np.arange(len(sizes))
    while n > 0 and len(left):
        interval = sizes[left].sum() / n
        certain = left[sizes[left] >= interval]
        if len(certain) == 0:
            points = rng.random() * interval + interval * np.arange(n)
            drawn = left[np.searchsorted(np.cumsum(sizes[left]), points, side="right")]
            chosen.append(drawn)
            probability.append(sizes[drawn] / interval)
            break
        chosen.append(certain)
        probability.append(np.ones(len(certain)))
        n -= len(certain)
        left = left[sizes[left] < interval]
    if not chosen:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    positions, p = np.concatenate(chosen), np.concatenate(probability)
    order = np.argsort(positions)
    return positions[order], p[order]


def _second_stage(sizes: np.ndarray, share: float) -> int:
    """Households per cluster so that taking every cluster gives ``share`` households."""
    low, high = HOUSEHOLDS_PER_CLUSTER, int(sizes.max())
    while low < high:  # the smallest m with sum(min(size, m)) >= share
        middle = (low + high) // 2
        if np.minimum(sizes, middle).sum() >= share:
            high = middle
        else:
            low = middle + 1
    return low


def draw_survey(population: pd.DataFrame, households: int, seed: int) -> pd.DataFrame:
    """Draw a stratified two-stage sample of ``population`` (module docstring).

    Parameters
    ----------
    population
        The synthetic population (:func:`~rahat.geo.registry.synth.synthesize`), with
        ``urban``, ``cluster`` and ``registered``.
    households
        Households the survey aims at: each stratum draws as many clusters as give its share
        of them on average (a cluster smaller than the second stage gives all it has).
    seed
        Random seed (same population and seed, same survey).

    Returns
    -------
    pandas.DataFrame
        :data:`SURVEY_COLUMNS`, one row per surveyed household, ordered by stratum, cluster
        and household id.

    Raises
    ------
    rahat.geo.errors.InputError
        For a population without the columns needed, or a size below one cluster's.
    """
    missing = sorted({"urban", "cluster", REGISTERED_COLUMN, "province"} - set(population))
    if missing:
        raise InputError(f"the population has no {', '.join(missing)} column")
    if households < HOUSEHOLDS_PER_CLUSTER:
        raise InputError(f"a survey needs at least {HOUSEHOLDS_PER_CLUSTER} households")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5352_5659]))  # "SRVY"
    urban = population["urban"].to_numpy(bool)
    stratum = pd.Series(
        population["province"].astype(str).to_numpy(dtype=object)
        + np.where(urban, " urban", " rural").astype(object)
    )
    cluster = population["cluster"].to_numpy(np.int64)
    # one PSU per (stratum, cluster): a cluster may straddle urban and rural households
    psu_key = pd.MultiIndex.from_arrays([stratum, cluster])
    psu_code, psu_index = pd.factorize(psu_key, sort=True)
    psu_size = np.bincount(psu_code)
    psu_stratum = psu_index.get_level_values(0).to_numpy(dtype=object)
    strata = sorted(set(psu_stratum))
    by_psu = np.argsort(psu_code, kind="stable")  # households of PSU k: by_psu[first[k]:...]
    first = np.concatenate([[0], np.cumsum(psu_size)[:-1]])
    total = len(population)

    rows: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for name in strata:
        psus = np.flatnonzero(psu_stratum == name)
        sizes = psu_size[psus]
        stratum_size = sizes.sum()
        # households a drawn cluster gives, on average under PPS: clusters smaller than the
        # second stage give all they have, so more are drawn to reach the stratum's share
        per_cluster = np.sum(sizes * np.minimum(sizes, HOUSEHOLDS_PER_CLUSTER)) / stratum_size
        share = households * stratum_size / total
        wanted = max(min(2, len(psus)), round(share / per_cluster))
        # a stratum with fewer clusters than it needs takes them all, and more of each
        second_stage = HOUSEHOLDS_PER_CLUSTER
        if wanted > len(psus):
            wanted, second_stage = len(psus), _second_stage(sizes, share)
        drawn, p_drawn = _systematic_pps(sizes.astype(np.float64), wanted, rng)
        for psu, p_cluster in zip(psus[drawn], p_drawn, strict=True):
            size = int(psu_size[psu])
            members = by_psu[first[psu] : first[psu] + size]
            take = min(second_stage, size)
            picked = np.sort(rng.choice(members, take, replace=False))
            rows.append(picked)
            weights.append(np.full(take, size / (p_cluster * take)))
    if not rows:
        raise InputError("the population is empty: nothing to survey")
    picked = np.concatenate(rows)
    survey = pd.DataFrame(
        {
            "household_id": population["household_id"].to_numpy()[picked],
            "province": population["province"].to_numpy()[picked],
            "district": population["district"].to_numpy()[picked],
            "tehsil": population["tehsil"].to_numpy()[picked],
            "district_pcode": population["district_pcode"].to_numpy()[picked],
            "tehsil_pcode": population["tehsil_pcode"].to_numpy()[picked],
            "urban": urban[picked],
            "stratum": stratum.to_numpy()[picked],
            "cluster": cluster[picked],
            "weight": np.concatenate(weights),
            REGISTERED_COLUMN: population[REGISTERED_COLUMN].to_numpy(bool)[picked],
            "pmt_score": population["pmt_score"].to_numpy()[picked],
            "household_size": population["household_size"].to_numpy()[picked],
            "female_headed": population["female_headed"].to_numpy(bool)[picked],
        }
    )
    survey = survey.sort_values(["stratum", "cluster", "household_id"], ignore_index=True)
    survey.insert(0, "survey_id", np.arange(1, len(survey) + 1, dtype=np.int64))
    for name in ("province", "district", "tehsil", "district_pcode", "tehsil_pcode", "stratum"):
        survey[name] = survey[name].astype("category")
    return survey[list(SURVEY_COLUMNS)]


def write_survey(survey: pd.DataFrame, path: str | Path) -> Path:
    """Write ``survey`` to Parquet atomically (:func:`~rahat.geo.files.atomic_write`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(survey, preserve_index=False)
    return atomic_write(path, lambda temp: pq.write_table(table, temp))
