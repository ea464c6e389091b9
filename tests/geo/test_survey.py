"""The demo survey: a stratified two-stage sample whose design weights add up to the population."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.geo.errors import InputError
from rahat.geo.registry.survey import (
    HOUSEHOLDS_PER_CLUSTER,
    SURVEY_COLUMNS,
    _systematic_pps,
    draw_survey,
)
from rahat.geo.registry.synth import SURVEY_FILE, synthesize, write_demo


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synthesize(60_000, 9)


def _strata(frame: pd.DataFrame) -> pd.Series:
    urban = np.where(frame["urban"].to_numpy(bool), " urban", " rural")
    return pd.Series(frame["province"].astype(str).to_numpy(dtype=object) + urban.astype(object))


def test_weights_of_each_stratum_add_up_to_its_households(population) -> None:
    survey = draw_survey(population, 3_000, seed=1)
    assert list(survey.columns) == list(SURVEY_COLUMNS)
    assert abs(len(survey) - 3_000) <= 20 * HOUSEHOLDS_PER_CLUSTER
    weighted = survey.groupby("stratum", observed=True)["weight"].sum()
    truth = _strata(population).value_counts()
    assert set(weighted.index) == set(truth.index)  # every stratum is surveyed
    for name, total in weighted.items():
        assert total == pytest.approx(truth[name], rel=1e-9)
    assert survey["survey_id"].is_unique and survey["household_id"].is_unique
    per_cluster = survey.groupby(["stratum", "cluster"], observed=True).size()
    assert per_cluster.max() <= HOUSEHOLDS_PER_CLUSTER


def test_weighted_estimates_are_close_to_the_truth(population) -> None:
    survey = draw_survey(population, 6_000, seed=2)
    w = survey["weight"].to_numpy()
    registered = survey["registered"].to_numpy(bool)
    poor = survey["pmt_score"].to_numpy() <= 32
    true_missing = int((~population["registered"] & (population["pmt_score"] <= 32)).sum())
    assert np.sum(w * registered) / np.sum(w) == pytest.approx(
        population["registered"].mean(), abs=0.02
    )
    assert np.sum(w * (~registered & poor)) == pytest.approx(true_missing, rel=0.15)


def test_same_seed_same_survey_other_seed_other_clusters(population) -> None:
    a = draw_survey(population, 2_000, seed=3)
    pd.testing.assert_frame_equal(a, draw_survey(population, 2_000, seed=3))
    b = draw_survey(population, 2_000, seed=4)
    assert set(a["cluster"]) != set(b["cluster"])


def test_systematic_pps_draws_in_proportion_to_size() -> None:
    sizes = np.array([500.0, 50, 40, 30, 20, 10, 10, 5, 5, 5])
    counts = np.zeros(len(sizes))
    reps = 4_000
    rng = np.random.default_rng(0)
    for _ in range(reps):
        drawn, p = _systematic_pps(sizes, 4, rng)
        assert len(drawn) == 4 and len(set(drawn)) == 4
        counts[drawn] += 1
    _, p = _systematic_pps(sizes, 4, np.random.default_rng(1))
    expected = np.r_[1.0, 3 * sizes[1:] / sizes[1:].sum()]  # the big unit for certain
    assert counts[0] == reps
    np.testing.assert_allclose(counts / reps, expected, atol=0.03)
    assert p.max() <= 1.0


def test_a_population_without_registration_status_is_refused(population) -> None:
    with pytest.raises(InputError, match="registered"):
        draw_survey(population.drop(columns=["registered"]), 1_000, seed=1)
    with pytest.raises(InputError, match="at least"):
        draw_survey(population, 3, seed=1)


def test_write_demo_writes_the_survey_and_keeps_the_registry_columns(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    population, registry = write_demo(3_000, 5, tmp_path, survey_households=480)
    survey = pq.read_table(tmp_path / SURVEY_FILE).to_pandas()
    assert abs(len(survey) - 480) <= 5 * HOUSEHOLDS_PER_CLUSTER
    assert {"urban", "cluster"} <= set(pq.read_schema(population).names)
    assert not {"urban", "cluster"} & set(pq.read_schema(registry).names)
    assert survey["weight"].sum() == pytest.approx(3_000, rel=1e-9)


def test_a_survey_larger_than_the_clusters_allow_takes_more_per_cluster(population) -> None:
    clusters = population.groupby(["province", "urban", "cluster"], observed=True).ngroups
    wanted = 2 * clusters * HOUSEHOLDS_PER_CLUSTER  # more than 16 per cluster can give
    survey = draw_survey(population, wanted, seed=5)
    assert len(survey) >= 0.9 * min(wanted, len(population))
    weighted = survey.groupby("stratum", observed=True)["weight"].sum()
    truth = _strata(population).value_counts()
    for name, total in weighted.items():
        assert total == pytest.approx(truth[name], rel=1e-9)
