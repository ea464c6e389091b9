"""Tehsil rows of the gap table (issue 14, items 3 and 7): codes, methods, benchmarking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rahat.engine.gap import GapOptions, direct_estimates
from rahat.engine.gap.table import gap_table
from rahat.engine.gap.tehsils import nearest_centre_km, unit_codes
from rahat.geo.registration_centres import registration_centres
from rahat.geo.registry.survey import draw_survey
from rahat.geo.registry.synth import synthesize
from rahat.geo.units import Level

SEED = 5
OPTIONS = GapOptions(min_households=40, max_cv=0.6, bootstrap=20, seed=1)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synthesize(60_000, SEED)


@pytest.fixture(scope="module")
def survey(population: pd.DataFrame) -> pd.DataFrame:
    return draw_survey(population, 5_000, SEED)


@pytest.fixture(scope="module")
def census(population: pd.DataFrame) -> pd.DataFrame:
    counts = population.groupby(["province", "district"], observed=True).size()
    return counts.rename("households").reset_index()


@pytest.fixture(scope="module")
def codes(population: pd.DataFrame) -> np.ndarray:
    return unit_codes(population, Level.TEHSIL)


@pytest.fixture(scope="module")
def tehsil_census(population: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    known = pd.notna(codes)
    frame = population[known]
    rows = pd.DataFrame(
        {
            "code": codes[known],
            "province": frame["province"].astype(str).to_numpy(),
            "district": frame["district"].astype(str).to_numpy(),
            "tehsil": frame["tehsil"].astype(str).to_numpy(),
        }
    )
    return rows.groupby("code").agg(
        households=("code", "size"), province=("province", "first"),
        district=("district", "first"), tehsil=("tehsil", "first"),
    ).reset_index()  # fmt: skip


@pytest.fixture(scope="module")
def result(survey, population, census, tehsil_census):
    return gap_table(survey, population, census, OPTIONS, tehsil_households=tehsil_census)


def _tehsils(result) -> pd.DataFrame:
    rows = result.table["level"] == "tehsil"
    return result.table[rows].assign(key=result.keys[rows].to_numpy()).set_index("key")


def test_one_row_per_tehsil_code_even_where_names_repeat(result, population, survey, codes):
    tehsils = _tehsils(result)
    registered = codes[population["registered"].to_numpy()]
    surveyed = unit_codes(survey, Level.TEHSIL)
    present = {c for c in (*registered, *surveyed) if isinstance(c, str)}
    assert set(tehsils.index) == present
    assert tehsils.index.is_unique
    # several tehsils share a name across districts: a row per code, not per name
    assert tehsils["unit"].nunique() < len(tehsils)
    sindh = tehsils[tehsils.index.str.startswith("PK7")]  # Sindh: COD-AB P-codes
    assert len(sindh) > 0 and (sindh["pcode"] == sindh.index).all()


def test_methods_follow_the_sample(result, survey) -> None:
    tehsils = _tehsils(result)
    direct = direct_estimates(survey, "tehsil", keys=unit_codes(survey, Level.TEHSIL))
    direct = direct.set_index("key")
    n = direct["n_households"].reindex(tehsils.index).fillna(0)
    cv = np.sqrt(direct["unregistered_b40_share_var"]) / direct["unregistered_b40_share"]
    rule = (n >= OPTIONS.min_households) & (cv.reindex(tehsils.index) <= OPTIONS.max_cv)
    expected = np.where(rule, "direct", np.where(n > 0, "fay_herriot", "synthetic"))
    assert (tehsils["method"].to_numpy() == expected).all()
    assert set(expected) == {"direct", "fay_herriot", "synthetic"}


def test_tehsils_add_up_to_their_district(result, population, codes) -> None:
    table = result.table
    districts = table[table["level"] == "district"].assign(
        key=result.keys[table["level"] == "district"].to_numpy()
    )
    tehsils = _tehsils(result)
    parent = pd.Series(
        (population["province"].astype(str) + "|" + population["district"].astype(str)).to_numpy(),
        index=codes,
    )
    parent = parent[pd.notna(parent.index)].groupby(level=0).first()
    sums = tehsils.groupby(parent.reindex(tehsils.index).to_numpy())[
        ["households_est", "unregistered_b40_est", "registered"]
    ].sum()
    whole = districts.set_index("key").loc[sums.index]
    np.testing.assert_allclose(sums["unregistered_b40_est"], whole["unregistered_b40_est"])
    # households too (the census here counts every household: whole districts have tehsils)
    complete = population.groupby(["province", "district"], observed=True)["tehsil"].apply(
        lambda t: t.notna().all()
    )
    full = [f"{p}|{d}" for (p, d), ok in complete.items() if ok and f"{p}|{d}" in sums.index]
    np.testing.assert_allclose(sums.loc[full, "households_est"], whole.loc[full, "households_est"])
    np.testing.assert_array_equal(sums.loc[full, "registered"], whole.loc[full, "registered"])
    ordered = (tehsils["unregistered_b40_lo90"] <= tehsils["unregistered_b40_est"]) & (
        tehsils["unregistered_b40_est"] <= tehsils["unregistered_b40_hi90"]
    )
    assert ordered.all()


def test_mismatched_tehsils_are_reported_and_kept(survey, population, census, tehsil_census):
    dropped = tehsil_census.iloc[3]
    partial = pd.concat(
        [
            tehsil_census.drop(index=tehsil_census.index[3]),
            pd.DataFrame(
                {"code": [None], "households": [100.0], "province": ["Sindh"],
                 "district": ["NOWHERE"], "tehsil": ["GHOST TALUKA"]}
            ),
        ],
        ignore_index=True,
    )  # fmt: skip
    result = gap_table(survey, population, census, OPTIONS, tehsil_households=partial)
    report = result.report
    assert report["tehsils_without_census"]["count"] == 1
    assert report["tehsils_without_census"]["first"][0].startswith(str(dropped["tehsil"]))
    assert report["census_tehsils_matching_no_unit"] == {
        "count": 1,
        "first": ["GHOST TALUKA (NOWHERE, Sindh)"],
    }
    # a census tehsil whose households are neither registered nor surveyed: reported too
    unseen = report["census_tehsils_without_households"]["count"]
    assert report["tehsil_denominators"]["census"] == len(tehsil_census) - 1 - unseen
    tehsils = _tehsils(result)
    assert dropped["code"] in tehsils.index  # kept, with a fallback denominator
    assert tehsils.loc[dropped["code"], "households_est"] > 0
    without = int(pd.isna(unit_codes(population[population["registered"]], Level.TEHSIL)).sum())
    assert report["registry_households_without_tehsil"] == without > 0


def test_unsampled_tehsils_fall_back_and_say_so(survey, population, census) -> None:
    result = gap_table(survey, population, None, OPTIONS)
    sources = result.report["tehsil_denominators"]
    # without census, a tehsil's households come from its registry count over its province's
    # coverage unless its own sample is large (a few dozen households estimate them poorly)
    assert sources.get("registry_over_coverage", 0) > 0 and "census" not in sources
    tehsils = _tehsils(result)
    synthetic = tehsils[tehsils["method"] == "synthetic"]
    assert 0 < len(synthetic) <= sources["registry_over_coverage"]
    assert np.isfinite(synthetic["unregistered_b40_est"]).all()
    assert (synthetic["households_est"] > 0).all()
    # never fewer households than the registry holds there
    assert (tehsils["registered"] <= tehsils["households_est"] + 1e-9).all()


def test_distance_to_the_nearest_centre() -> None:
    centres = registration_centres()
    lon, lat = centres["lon"].to_numpy()[:5], centres["lat"].to_numpy()[:5]
    np.testing.assert_allclose(nearest_centre_km(lon, lat), 0.0, atol=1e-9)
    # half a degree of latitude north of the northernmost centre: about 55 km from it
    top = int(np.argmax(centres["lat"].to_numpy()))
    far = nearest_centre_km(
        centres["lon"].to_numpy()[[top]], centres["lat"].to_numpy()[[top]] + 0.5
    )
    assert 50 < far[0] <= 56
    # half a degree of longitude east of the easternmost: shorter, by the cosine of latitude
    east = int(np.argmax(centres["lon"].to_numpy()))
    lon_e, lat_e = centres["lon"].to_numpy()[[east]] + 0.5, centres["lat"].to_numpy()[[east]]
    assert 40 < nearest_centre_km(lon_e, lat_e)[0] < 50
