"""Referred households in the outreach plan: each site's referred yield is what the greedy
choice adds among the referred points, and referrals are placed at their cell or district."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rahat.engine.gap.outreach import Coverage, greedy_sites, marginal_yield
from rahat.engine.gap.outreach_inputs import Demand
from rahat.engine.gap.outreach_referrals import place_referrals, with_referrals
from rahat.geo.errors import InputError


@pytest.mark.parametrize(
    ("seed", "coverage"),
    [(0, Coverage(radius_km=15.0)), (1, Coverage(radius_km=40.0)), (2, Coverage(decay_km=20.0))],
)
def test_marginal_yield_repeats_the_greedy_yields_on_any_subset(seed, coverage) -> None:
    rng = np.random.default_rng(seed)
    sites = (rng.uniform(67.0, 69.0, 25), rng.uniform(25.0, 27.0, 25))
    points = (rng.uniform(67.0, 69.0, 300), rng.uniform(25.0, 27.0, 300))
    households = rng.integers(0, 20, 300).astype(float)
    subset = rng.random(300) < 0.3
    chosen = greedy_sites(sites, points, households, 8, coverage, in_footprint=subset)
    every = marginal_yield(sites, chosen.order, points, households, coverage)
    np.testing.assert_allclose(every, chosen.added, rtol=1e-9)
    part = marginal_yield(
        sites, chosen.order, (points[0][subset], points[1][subset]), households[subset], coverage
    )
    np.testing.assert_allclose(part, chosen.added_in_footprint, rtol=1e-9, atol=1e-9)
    none = marginal_yield(
        sites, chosen.order, (points[0][:0], points[1][:0]), households[:0], coverage
    )
    assert none.tolist() == [0.0] * len(chosen.order)


def _demand() -> Demand:
    points = pd.DataFrame(
        {
            "lon": [68.8, 69.0, 74.3],
            "lat": [27.6, 27.8, 31.5],
            "unit": ["Sukkur", "Sukkur", "Lahore"],
            "households": [5.0, 5.0, 10.0],
            "source": "settlement",
        }
    )
    return Demand(points=points, units=2, unmatched=pd.Series(dtype=float))


TABLE = pd.DataFrame(
    {"level": ["district", "district"], "unit": ["Sukkur", "Lahore"], "pcode": ["PK723", ""]}
)


def test_referrals_are_placed_at_their_cell_or_district_centroid_and_the_rest_counted() -> None:
    frame = pd.DataFrame(
        {
            "tehsil": ["PK72303", "Rohri", "", "PK72305", "PK999"],
            "cell_lon": [np.nan, np.nan, 67.925, np.nan, np.nan],
            "cell_lat": [np.nan, np.nan, 24.775, np.nan, np.nan],
            "claims": [4, 2, 1, 1, 1],
            "households": [3, 2, 1, 0, 6],
        }
    )
    placed = place_referrals(frame, TABLE, _demand())
    points = placed.points.round(6)
    assert points.to_dict(orient="list") == {
        "lon": [67.925, 68.9],
        "lat": [24.775, 27.7],
        "unit": [points["unit"][0], "Sukkur"],
        "households": [1.0, 3.0],
        "source": ["referral", "referral_district"],
    }
    assert placed.figures["placed_at_cell"] == 1.0
    assert placed.figures["placed_at_district"] == 3.0  # the 0-household row adds no point
    assert placed.figures["unplaced_rows"] == 2
    assert placed.figures["unplaced_households"] == 8.0
    assert placed.figures["unplaced"] == {"PK999": 6.0, "Rohri": 2.0}
    demand, referred = with_referrals(_demand(), placed)
    assert len(demand.points) == 5 and referred.tolist() == [False] * 3 + [True] * 2


def test_a_referrals_table_with_a_bad_count_is_refused() -> None:
    frame = pd.DataFrame(
        {
            "tehsil": ["PK723"],
            "cell_lon": [""],
            "cell_lat": [""],
            "claims": [1],
            "households": ["x"],
        }
    )
    with pytest.raises(InputError, match="households count"):
        place_referrals(frame, TABLE, _demand())
