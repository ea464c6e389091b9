"""Coverage-gap estimates (issue 14, item 3) against the synthetic population's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rahat.engine.gap import (
    GAP_COLUMNS,
    GapOptions,
    b40_threshold,
    direct_estimates,
    estimate_gap,
)
from rahat.geo.errors import InputError
from rahat.geo.registry.survey import draw_survey
from rahat.geo.registry.synth import synthesize

SEED = 7


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synthesize(120_000, SEED)


@pytest.fixture(scope="module")
def survey(population: pd.DataFrame) -> pd.DataFrame:
    return draw_survey(population, 8_000, SEED)


@pytest.fixture(scope="module")
def census(population: pd.DataFrame) -> pd.DataFrame:
    """The synthetic world's census: its households per district."""
    counts = population.groupby(["province", "district"], observed=True).size()
    return counts.rename("households").reset_index()


@pytest.fixture(scope="module")
def truth(population: pd.DataFrame) -> pd.Series:
    """Unregistered bottom-40 % households per (province, district), from the population."""
    poor = population["pmt_score"] <= np.quantile(population["pmt_score"], 0.4)
    missed = poor & ~population["registered"]
    return missed.groupby([population["province"], population["district"]], observed=True).sum()


def _district_truth(table: pd.DataFrame, population: pd.DataFrame, truth: pd.Series) -> pd.Series:
    province = population.groupby("district", observed=True)["province"].first()
    return pd.Series([truth.get((province[u], u), 0) for u in table["unit"]], index=table.index)


def test_national_horvitz_thompson_within_ten_percent(
    survey: pd.DataFrame, truth: pd.Series
) -> None:
    national = direct_estimates(survey, "province")["unregistered_b40_ht"].sum()
    assert abs(national / truth.sum() - 1) < 0.10


def test_bottom_forty_is_the_weighted_fortieth_percentile(survey: pd.DataFrame) -> None:
    threshold = b40_threshold(survey)
    weight = survey["weight"].to_numpy()
    below = survey["pmt_score"].to_numpy() <= threshold
    share = weight[below].sum() / weight.sum()
    assert 0.40 <= share < 0.40 + weight.max() / weight.sum()


def test_fay_herriot_intervals_cover_the_truth(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame, truth: pd.Series
) -> None:
    # every district model-based: the interval check is about the Fay-Herriot intervals
    options = GapOptions(min_households=10**9, bootstrap=100, seed=1)
    table = estimate_gap(survey, population, census, options)
    districts = table[table["level"] == "district"]
    assert set(districts["method"]) <= {"fay_herriot", "synthetic"}
    true = _district_truth(districts, population, truth)
    positive = true > 0
    inside = (districts["unregistered_b40_lo90"] <= true) & (
        true <= districts["unregistered_b40_hi90"]
    )
    assert inside[positive].mean() >= 0.70
    # unsampled districts too (synthetic estimates of a small, finite population)
    unsampled = positive & (districts["method"] == "synthetic")
    assert unsampled.sum() >= 10
    assert inside[unsampled].mean() >= 0.70
    # the intervals are not trivially wide: median half-width below the median truth
    half = (districts["unregistered_b40_hi90"] - districts["unregistered_b40_lo90"]) / 2
    assert half[positive].median() < true[positive].median()


def test_table_columns_and_totals(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame
) -> None:
    table = estimate_gap(survey, population, census, GapOptions(bootstrap=20))
    assert tuple(table.columns) == GAP_COLUMNS
    districts = table[table["level"] == "district"]
    assert districts["households_est"].sum() == len(population)
    assert districts["registered"].sum() == population["registered"].sum()
    ok = districts["unregistered_b40_lo90"] <= districts["unregistered_b40_est"]
    assert (ok & (districts["unregistered_b40_est"] <= districts["unregistered_b40_hi90"])).all()
    # every unit carries its province: a district is matched by (province, district)
    province = population.groupby("district", observed=True)["province"].first().astype(str)
    assert (districts["province"] == districts["unit"].map(province)).all()
    provinces = table[table["level"] == "province"]
    assert (provinces["province"] == provinces["unit"]).all()


def test_a_province_the_survey_left_out_adds_up_its_districts(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame
) -> None:
    left_out = ["Azad Jammu & Kashmir", "Gilgit-Baltistan"]
    partial = survey[~survey["province"].isin(left_out)]
    table = estimate_gap(partial, population, census, GapOptions(bootstrap=20))
    numbers = ["unregistered_b40_est", "unregistered_b40_lo90", "unregistered_b40_hi90"]
    assert np.isfinite(table[numbers].to_numpy()).all()
    provinces = table[table["level"] == "province"].set_index("unit")
    districts = table[table["level"] == "district"].groupby("province")[numbers].sum()
    for province in left_out:
        assert provinces.loc[province, "method"] == "synthetic"
        np.testing.assert_allclose(
            provinces.loc[province, numbers].to_numpy(np.float64),
            districts.loc[province].to_numpy(np.float64),
        )
    assert (provinces.drop(index=left_out)["method"] == "direct").all()


def test_survey_without_pcodes_is_estimated_by_province_and_district(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame
) -> None:
    options = GapOptions(bootstrap=20)
    with_codes = estimate_gap(survey, population, census, options)
    without = estimate_gap(survey.drop(columns=["district_pcode"]), population, census, options)
    numbers = ["households_est", "registered", "unregistered_b40_est", "unregistered_b40_hi90"]
    pd.testing.assert_frame_equal(without[numbers], with_codes[numbers])


def test_survey_denominators_add_up_to_each_provinces_survey_total(
    population: pd.DataFrame,
) -> None:
    # A small survey leaves districts unsampled; the sampled ones already carry the province's
    # weights, so filling the others by coverage alone would overshoot the province.
    small = draw_survey(population, 1_500, SEED)
    table = estimate_gap(small, population, None, GapOptions(bootstrap=20))
    districts = table[table["level"] == "district"]
    assert (districts["method"] == "synthetic").any()
    # small samples take the registry over the province's coverage, so no district has fewer
    # households than the registry holds, and the province still adds up (to within the few
    # districts held at their registry count)
    assert (districts["registered"] <= districts["households_est"] + 1e-9).all()
    sums = districts.groupby("province")["households_est"].sum()
    totals = small.groupby(small["province"].astype(str))["weight"].sum()
    assert np.allclose(sums.to_numpy(), totals.reindex(sums.index).to_numpy(), rtol=0.02)


def test_deterministic_for_a_seed(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame
) -> None:
    options = GapOptions(bootstrap=30, seed=3)
    first = estimate_gap(survey, population, census, options)
    pd.testing.assert_frame_equal(first, estimate_gap(survey, population, census, options))
    other = estimate_gap(survey, population, census, GapOptions(bootstrap=30, seed=4))
    assert not np.allclose(first["unregistered_b40_hi90"], other["unregistered_b40_hi90"])


@pytest.mark.parametrize(("min_households", "max_cv"), [(100, 0.35), (128, 0.3)])
def test_method_labels_follow_the_rule(
    survey: pd.DataFrame,
    population: pd.DataFrame,
    census: pd.DataFrame,
    min_households: int,
    max_cv: float,
) -> None:
    options = GapOptions(min_households=min_households, max_cv=max_cv, bootstrap=10)
    table = estimate_gap(survey, population, census, options)
    assert (table.loc[table["level"] == "province", "method"] == "direct").all()
    districts = table[table["level"] == "district"].set_index("unit")
    direct = direct_estimates(survey, "district").set_index("unit")
    cv = np.sqrt(direct["unregistered_b40_share_var"]) / direct["unregistered_b40_share"]
    rule = (direct["n_households"] >= min_households) & (cv <= max_cv)
    expected = pd.Series("synthetic", index=districts.index)
    expected[direct.index] = np.where(rule, "direct", "fay_herriot")
    assert (districts["method"] == "direct").sum() > 0
    assert (districts["method"] == "synthetic").sum() > 0
    pd.testing.assert_series_equal(districts["method"], expected, check_names=False)


@pytest.mark.parametrize(
    ("column", "words"), [("weight", "design weights"), ("registered", "registration status")]
)
def test_survey_without_column_is_refused(
    survey: pd.DataFrame, population: pd.DataFrame, column: str, words: str
) -> None:
    with pytest.raises(InputError, match=f"'{column}' \\({words}\\)"):
        estimate_gap(survey.drop(columns=column), population)
    with pytest.raises(InputError, match=column):
        direct_estimates(survey.drop(columns=column))


def test_a_district_the_registry_misses_whole_is_not_estimated_at_zero(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame
) -> None:
    # Every household of Multan left out of the registry (and, unsampled, of the survey) but
    # in the census: the worst-covered district there is, so its unregistered poor are about
    # its poor, however the model's covariates see a unit without registry records.
    registry = population[population["district"] != "Multan"]
    unsampled = survey[survey["district"] != "Multan"]
    table = estimate_gap(unsampled, registry, census, GapOptions(bootstrap=20))
    multan = table[(table["level"] == "district") & (table["unit"] == "Multan")].iloc[0]
    assert multan["registered"] == 0 and multan["method"] == "synthetic"
    households = float(census.loc[census["district"] == "Multan", "households"].iloc[0])
    assert multan["unregistered_b40_est"] > 0.2 * households  # bottom 40 %: about 0.4 of them


def test_a_province_whose_sample_holds_no_unregistered_poor_is_not_zero_width(
    survey: pd.DataFrame, population: pd.DataFrame, census: pd.DataFrame
) -> None:
    # Islamabad's surveyed households all registered: a direct share of 0 +- 0
    registered = survey["registered"] | (survey["province"] == "Islamabad Capital Territory")
    table = estimate_gap(survey.assign(registered=registered), population, census)
    row = table[(table["level"] == "province") & (table["unit"] == "Islamabad Capital Territory")]
    assert row["method"].item() == "fay_herriot"
    assert row["unregistered_b40_hi90"].item() > row["unregistered_b40_lo90"].item()
