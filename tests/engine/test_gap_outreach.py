"""The outreach plan: greedy maximum coverage against brute force, inputs, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.engine.gap import outreach_outputs
from rahat.engine.gap.outreach import (
    EARTH_RADIUS_KM,
    SITE_COLUMNS,
    Coverage,
    OutreachOptions,
    best_uptake,
    greedy_sites,
    plan_outreach,
)
from rahat.engine.gap.outreach_inputs import (
    Demand,
    candidate_sites,
    demand_points,
    registry_places,
)
from rahat.engine.gap.outreach_outputs import write_outreach
from rahat.geo.errors import InputError


def _distances(sites: tuple[np.ndarray, np.ndarray], points: tuple[np.ndarray, np.ndarray]):
    """Great-circle km, sites x points, by the textbook haversine (an independent formula)."""
    lam1, phi1 = np.radians(sites[0])[:, None], np.radians(sites[1])[:, None]
    lam2, phi2 = np.radians(points[0])[None, :], np.radians(points[1])[None, :]
    h = (
        np.sin((phi2 - phi1) / 2) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def _brute_greedy(sites, points, households, weight, footprint, k, coverage):
    """Plain greedy: every step evaluates every candidate in full; lowest index on ties."""
    d = _distances(sites, points)
    if coverage.decay_km is not None:
        uptake = np.exp(-d / coverage.decay_km)
    else:
        uptake = (d <= coverage.radius_km).astype(float)
    best = np.zeros(len(households))
    order, added, added_fp = [], [], []
    for _ in range(k):
        gains = (weight * np.clip(uptake - best, 0, None)).sum(axis=1)
        gains[order] = -1.0
        site = int(np.argmax(gains))
        if gains[site] <= 0:
            break
        step = households * np.clip(uptake[site] - best, 0, None)
        order.append(site)
        added.append(step.sum())
        added_fp.append(step[footprint].sum())
        best = np.maximum(best, uptake[site])
    return np.array(order), np.array(added), np.array(added_fp)


def _random_case(seed: int, n_sites: int = 25, n_points: int = 300):
    rng = np.random.default_rng(seed)
    sites = (rng.uniform(67.0, 69.0, n_sites), rng.uniform(25.0, 27.0, n_sites))
    points = (rng.uniform(67.0, 69.0, n_points), rng.uniform(25.0, 27.0, n_points))
    households = rng.integers(0, 20, n_points).astype(float)
    footprint = rng.random(n_points) < 0.3
    return sites, points, households, footprint


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_greedy_radius_gives_the_brute_force_sites_and_exact_yields(seed) -> None:
    sites, points, households, footprint = _random_case(seed)
    weight = np.where(footprint, 3 * households, households)
    coverage = Coverage(radius_km=25.0)
    got = greedy_sites(
        sites, points, households, 8, coverage, weight=weight, in_footprint=footprint
    )
    order, added, added_fp = _brute_greedy(
        sites, points, households, weight, footprint, 8, coverage
    )
    assert got.order.tolist() == order.tolist()
    assert got.added.tolist() == added.tolist()  # whole households: exact
    assert got.added_in_footprint.tolist() == added_fp.tolist()
    reached = _distances(tuple(a[order] for a in sites), points).min(axis=0) <= 25.0
    assert got.uptake.tolist() == reached.astype(float).tolist()


@pytest.mark.parametrize("seed", [4, 5])
def test_greedy_decay_gives_the_brute_force_sites_and_yields(seed) -> None:
    sites, points, households, footprint = _random_case(seed)
    coverage = Coverage(decay_km=12.0)
    got = greedy_sites(sites, points, households, 6, coverage, in_footprint=footprint)
    order, added, added_fp = _brute_greedy(
        sites, points, households, households, footprint, 6, coverage
    )
    assert got.order.tolist() == order.tolist()
    np.testing.assert_allclose(got.added, added, rtol=1e-9)
    np.testing.assert_allclose(got.added_in_footprint, added_fp, rtol=1e-9)


def test_decay_reaches_exp_of_the_distance() -> None:
    one_degree = np.pi * EARTH_RADIUS_KM / 180  # along a meridian
    got = greedy_sites(
        (np.array([68.0]), np.array([25.0])),
        (np.array([68.0]), np.array([26.0])),
        np.array([100.0]),
        1,
        Coverage(decay_km=50.0),
    )
    assert got.added[0] == pytest.approx(100 * np.exp(-one_degree / 50), rel=1e-9)


def test_the_radius_boundary_is_inside() -> None:
    """``d <= radius``: a site on the point reaches it at radius 0 (``d < radius`` would not)."""
    here = (np.array([68.0]), np.array([25.0]))
    got = greedy_sites(here, here, np.array([7.0]), 1, Coverage(radius_km=0.0))
    assert got.added.tolist() == [7.0]
    assert best_uptake(here, here, Coverage(radius_km=0.0)).tolist() == [1.0]
    near = (np.array([68.0]), np.array([25.0 + 15.1 / 111.195]))  # 15.1 km north
    assert best_uptake(here, near, Coverage()).tolist() == [0.0]
    assert best_uptake(here, near, Coverage(radius_km=15.2)).tolist() == [1.0]


def test_greedy_stops_when_no_site_adds_anything() -> None:
    twice = (np.array([68.0, 68.0, 75.0]), np.array([25.0, 25.0, 35.0]))
    got = greedy_sites(twice, (np.array([68.0]), np.array([25.0])), np.array([5.0]), 3, Coverage())
    assert got.order.tolist() == [0]


def test_more_sites_than_candidates_is_refused() -> None:
    here = (np.array([68.0]), np.array([25.0]))
    with pytest.raises(InputError, match="between 1 and 1"):
        greedy_sites(here, here, np.array([1.0]), 2, Coverage())
    with pytest.raises(InputError, match="radius"):
        Coverage(radius_km=-1.0)
    with pytest.raises(InputError, match="decay"):
        Coverage(decay_km=0.0)


# -- the plan ----------------------------------------------------------------------------------


def _demand(lon, lat, households) -> Demand:
    points = pd.DataFrame(
        {"lon": lon, "lat": lat, "unit": "Dadu", "households": households, "source": "settlement"}
    )
    return Demand(points=points, units=1, unmatched=pd.Series(dtype=float))


_CENTRES = pd.DataFrame({"name": ["centre"], "lon": [60.0], "lat": [30.0]})  # far from all


def _two_clusters() -> tuple[Demand, pd.DataFrame, np.ndarray]:
    """A: 10 households outside the footprint; B (200 km away): 5 households inside it."""
    demand = _demand([67.5, 67.5, 67.5], [25.0, 26.8, 26.8], [10.0, 2.0, 3.0])
    sites = pd.DataFrame({"name": ["A", "B"], "lon": [67.5, 67.5], "lat": [25.0, 26.8]})
    return demand, sites, np.array([False, True, True])


def test_the_footprint_weight_draws_the_sites_into_the_footprint() -> None:
    demand, sites, inside = _two_clusters()
    plain = plan_outreach(demand, sites, _CENTRES, OutreachOptions(sites=1))
    assert plain.sites["name"].tolist() == ["A"]
    assert plain.figures["demand"]["in_footprint"] is None
    weighted = plan_outreach(demand, sites, _CENTRES, OutreachOptions(sites=1), inside)
    assert weighted.sites["name"].tolist() == ["B"]  # 3 x 5 > 10
    assert weighted.sites["expected_yield"].tolist() == [5.0]  # households, not weights
    assert weighted.sites["in_footprint_yield"].tolist() == [5.0]
    assert weighted.figures["demand"]["in_footprint"] == 5.0
    assert weighted.figures["plan"]["share_in_footprint"] == 1.0
    light = OutreachOptions(sites=1, footprint_weight=1.5)  # 1.5 x 5 < 10
    assert plan_outreach(demand, sites, _CENTRES, light, inside).sites["name"].tolist() == ["A"]


def test_the_plan_reports_yields_baseline_and_costs() -> None:
    demand, sites, _ = _two_clusters()
    centres = pd.DataFrame({"name": ["c1", "c2"], "lon": [67.5, 60.0], "lat": [25.0, 30.0]})
    options = OutreachOptions(sites=2, cost_centre=0.5, cost_door=2.5, cost_site=10.0)
    plan = plan_outreach(demand, sites, centres, options)
    assert list(plan.sites.columns) == list(SITE_COLUMNS)
    assert plan.sites["rank"].tolist() == [1, 2]
    assert plan.sites["cumulative_yield"].tolist() == [10.0, 15.0]
    assert plan.sites["cumulative_share"].tolist() == [10 / 15, 1.0]
    assert plan.sites["district"].tolist() == ["Malir", "Dadu"]  # the polygons they lie in
    fig = plan.figures
    assert fig["plan"]["reach"] == 15.0 and fig["plan"]["share"] == 1.0
    assert fig["plan"]["cost_total"] == 15 * 0.5 + 2 * 10.0
    assert fig["plan"]["cost_per_household"] == round((7.5 + 20) / 15, 4)
    assert fig["plan"]["door_to_door_total"] == 15 * 2.5
    assert fig["baseline"]["centres"] == 2 and fig["baseline"]["reach"] == 10.0
    assert fig["baseline"]["k_centres"] == 2 and fig["baseline"]["k_centres_reach"] == 10.0
    assert fig["plan_vs_baseline"] == 1.5


def test_a_plan_asking_more_sites_than_candidates_is_refused() -> None:
    demand, sites, _ = _two_clusters()
    with pytest.raises(InputError, match="more than the 2 candidate sites"):
        plan_outreach(demand, sites, _CENTRES, OutreachOptions(sites=3))


def test_a_plan_stopping_early_says_so() -> None:
    demand = _demand([67.5], [25.0], [4.0])
    sites = pd.DataFrame({"name": ["A", "B"], "lon": [67.5, 67.5], "lat": [25.0, 25.0]})
    plan = plan_outreach(demand, sites, _CENTRES, OutreachOptions(sites=2))
    assert plan.figures["sites_planned"] == 1 and "only 1 of 2" in plan.figures["note"]


# -- inputs ------------------------------------------------------------------------------------


def _gap_table(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["level", "unit", "pcode", "unregistered_b40_est"])


def test_demand_keeps_each_district_total_and_reports_the_unmatched() -> None:
    table = _gap_table(
        [
            ("province", "Sindh", "", 999.0),
            ("district", "Dadu", "", 120.0),
            ("district", "Somewhere", "PK708", 30.0),  # matched by its P-code (Jamshoro)
            ("district", "Atlantis", "", 7.0),
        ]
    )
    demand = demand_points(table)
    per_unit = demand.points.groupby("unit")["households"].sum()
    assert per_unit["Dadu"] == pytest.approx(120.0)
    assert per_unit["Jamshoro"] == pytest.approx(30.0)
    assert demand.unmatched.to_dict() == {"Atlantis": 7.0}
    assert demand.units == 3


def test_demand_refuses_a_table_without_the_columns_or_with_negative_estimates() -> None:
    with pytest.raises(InputError, match="unregistered_b40_est"):
        demand_points(pd.DataFrame({"level": ["district"], "unit": ["Dadu"]}))
    with pytest.raises(InputError, match="no district rows"):
        demand_points(_gap_table([("province", "Sindh", "", 5.0)]))
    with pytest.raises(InputError, match="Dadu"):
        demand_points(_gap_table([("district", "Dadu", "", -3.0)]))


def test_candidate_sites_count_the_rows_left_out() -> None:
    frame = pd.DataFrame(
        {"name": ["a", "", "c", "d"], "lon": [68.0, 68.0, "x", 68.0], "lat": [25, 25, 25, 95]}
    )
    found = candidate_sites(frame)
    assert found.sites["name"].tolist() == ["a"]
    assert found.rejected["row"].tolist() == [2, 3, 4]
    assert found.rejected["reason"].str.contains("name|lon|lat").all()
    with pytest.raises(InputError, match="no usable candidate"):
        candidate_sites(frame.iloc[1:])
    with pytest.raises(InputError, match="lat"):
        candidate_sites(frame.drop(columns="lat"))


# -- outputs -----------------------------------------------------------------------------------


def test_outputs_are_written_whole_or_not_at_all(tmp_path, monkeypatch) -> None:
    demand, sites, inside = _two_clusters()
    plan = plan_outreach(demand, sites, _CENTRES, OutreachOptions(sites=2), inside)
    out = tmp_path / "plan"
    paths = write_outreach(plan, out, {"gap": {"file": "gap_by_unit.csv", "sha256": "0" * 64}})
    written = pd.read_csv(paths["sites"])
    assert list(written.columns) == list(SITE_COLUMNS)
    assert paths["map"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["figures"]["plan"]["reach"] == 15.0
    assert set(manifest["outputs"]) == {"sites", "map"}

    def broken(plan: object, path: Path) -> Path:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(outreach_outputs, "outreach_map", broken)
    with pytest.raises(RuntimeError):
        write_outreach(plan, tmp_path / "other", {})
    with pytest.raises(RuntimeError):
        write_outreach(plan, out, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]  # no half folder, no temp
    assert pd.read_csv(out / "outreach_sites.csv").equals(written)  # the old plan kept whole


# -- the benchmark's capture ---------------------------------------------------------------------


def test_outreach_capture_counts_the_truly_unregistered_poor_reached() -> None:
    from rahat.benchmarks.gap_outreach import outreach_capture

    # Only household 0 is poor (PMT at or below the 40th percentile) and unregistered; it lives
    # in Karachi, where the gap table puts the whole demand. Household 2 (unregistered, not
    # poor) lives in Lahore, out of reach.
    population = pd.DataFrame(
        {
            "lon": [67.0104, 67.0104, 74.34, 67.0, 67.0],
            "lat": [24.8608, 24.8608, 31.55, 24.9, 24.9],
            "pmt_score": [1.0, 2.0, 50.0, 60.0, 70.0],
            "registered": [False, True, False, True, True],
        }
    )
    table = _gap_table([("district", "Karachi South", "", 1.0), ("district", "Lahore", "", 0.0)])
    got = outreach_capture(population, table, 1)
    assert got["outreach_target_households"] == 1
    assert got["outreach_capture"] == 1.0 and got["outreach_capture_best"] == 1.0
    away = table.assign(unregistered_b40_est=[0.0, 1.0])  # the estimates point to Lahore
    missed = outreach_capture(population, away, 1)
    assert missed["outreach_capture"] == 0.0 and missed["outreach_capture_best"] == 1.0


def test_registry_places_grid_the_households_exactly() -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(67.0, 67.2, 2_000)
    lat = rng.uniform(25.0, 25.2, 2_000)
    lon[:3] = np.nan  # no coordinates: left out
    places = registry_places(lon, lat, cell_deg=0.05)
    frame = pd.DataFrame({"lon": lon, "lat": lat}).dropna()
    frame["x"] = np.floor(frame["lon"] / 0.05)
    frame["y"] = np.floor(frame["lat"] / 0.05)
    expected = frame.groupby(["x", "y"]).agg(
        lon=("lon", "mean"), lat=("lat", "mean"), population=("lon", "size")
    )
    assert places["population"].sum() == 1_997
    np.testing.assert_array_equal(places["population"], expected["population"].to_numpy())
    np.testing.assert_allclose(places["lon"], expected["lon"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(places["lat"], expected["lat"].to_numpy(), rtol=0, atol=1e-12)
    # a cell holds only its own households: every mean lies inside its cell
    cell_x = np.floor(places["lon"].to_numpy() / 0.05)
    np.testing.assert_array_equal(cell_x, expected.index.get_level_values("x").to_numpy())
