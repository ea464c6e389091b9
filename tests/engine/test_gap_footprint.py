"""The gap table cut by a footprint (issue 14, item 3): exact counts and households' shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from rahat.engine.gap import GapOptions
from rahat.engine.gap.footprint import Footprint
from rahat.engine.gap.table import gap_table
from rahat.engine.gap.tehsils import unit_codes
from rahat.geo.denominators import district_households, unit_polygons
from rahat.geo.errors import CRSError, InputError
from rahat.geo.hazards import read_hazard
from rahat.geo.registry.survey import draw_survey
from rahat.geo.registry.synth import synthesize
from rahat.geo.units import Level

SEED = 9
OPTIONS = GapOptions(bootstrap=20, seed=2, stale_years=5.0)
#: A footprint over the lower Indus (not a rectangle: the counts go through a real polygon).
POLYGON = [(67.4, 24.9), (69.3, 25.3), (69.0, 27.6), (68.1, 28.2), (67.2, 26.8), (67.4, 24.9)]
#: The population raster's grid: 0.1 degree cells over Pakistan.
WEST, NORTH, CELL, WIDTH, HEIGHT = 60.8, 37.2, 0.1, 172, 137


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synthesize(40_000, SEED)


@pytest.fixture(scope="module")
def survey(population: pd.DataFrame) -> pd.DataFrame:
    return draw_survey(population, 3_000, SEED)


@pytest.fixture(scope="module")
def registry(population: pd.DataFrame) -> pd.DataFrame:
    return population[population["registered"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def located(survey: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """The survey with its households' locations."""
    return survey.join(population.set_index("household_id")[["lon", "lat"]], on="household_id")


@pytest.fixture(scope="module")
def census(population: pd.DataFrame) -> pd.DataFrame:
    counts = population.groupby(["province", "district"], observed=True).size()
    return counts.rename("households").reset_index()


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("footprint") / "flood.geojson"
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon"}}
    feature["geometry"]["coordinates"] = [POLYGON]  # type: ignore[index]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return read_hazard(path)


@pytest.fixture(scope="module")
def people(population: pd.DataFrame) -> np.ndarray:
    """People per 0.1 degree cell of the demo population (rows north to south)."""
    col = ((population["lon"].to_numpy() - WEST) / CELL).astype(int)
    row = ((NORTH - population["lat"].to_numpy()) / CELL).astype(int)
    grid = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    np.add.at(grid, (row, col), population["household_size"].to_numpy(np.float32))
    return grid


def _write_raster(path: Path, grid: np.ndarray, *, crs: str | None, unit: str | None) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "width": WIDTH, "height": HEIGHT, "count": 1,
               "dtype": "float32", "transform": from_origin(WEST, NORTH, CELL, CELL)}  # fmt: skip
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(grid, 1)
        if unit is not None:
            dst.update_tags(unit=unit)
    return path


def _rows(result, level: str) -> pd.DataFrame:
    rows = result.table["level"] == level
    return result.table[rows].assign(key=result.keys[rows].to_numpy()).set_index("key")


def _keys(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "province": frame["province"].astype(str).to_numpy(),
        "district": (
            frame["province"].astype(str) + "|" + frame["district"].astype(str)
        ).to_numpy(),
        "tehsil": unit_codes(frame, Level.TEHSIL),
    }


def test_registered_and_stale_in_the_footprint_are_exact(registry, located, census, layer):
    # households shared by the survey's locations: the counts are still the registry's own
    result = gap_table(located, registry, census, OPTIONS, footprint=Footprint(layer))
    inside = shapely.contains_xy(shapely.Polygon(POLYGON), registry["lon"], registry["lat"])
    updated = pd.to_datetime(registry["last_updated"])
    stale = updated < updated.max() - pd.Timedelta(days=5 * 365.25)
    recount = pd.DataFrame({"in": inside, "stale": inside & stale.to_numpy()})
    for level, keys in _keys(registry).items():
        expected = recount.groupby(keys).sum()
        expected = expected[expected["in"] > 0]
        rows = _rows(result, f"{level}_footprint")
        assert len(expected) > 0
        got = rows.loc[expected.index]
        np.testing.assert_array_equal(got["registered"], expected["in"])
        np.testing.assert_array_equal(got["stale_records"], expected["stale"])
        assert rows["registered"].sum() == inside.sum()  # no other unit has any inside
    assert result.report["footprint_share_source"] == "survey"


def test_households_scale_by_the_registrys_share(registry, survey, census, layer) -> None:
    result = gap_table(survey, registry, census, OPTIONS, footprint=Footprint(layer))
    districts, cut = _rows(result, "district"), _rows(result, "district_footprint")
    share = cut["registered"] / districts.loc[cut.index, "registered"]
    for column in ("households_est", "unregistered_b40_est", "unregistered_b40_hi90"):
        np.testing.assert_allclose(cut[column], districts.loc[cut.index, column] * share)
    assert set(cut["method"]) <= {"direct", "fay_herriot", "synthetic"}
    assert result.report["footprint_share_sources"]["district"] == {"registry": len(cut)}
    assert result.report["footprint_share_source"] == "registry"


def test_survey_locations_give_the_share_where_the_survey_has_them(
    registry, located, census, layer, monkeypatch
) -> None:
    from rahat.engine.gap import footprint as module

    monkeypatch.setattr(module, "SURVEY_SHARE_MIN_HOUSEHOLDS", 1)  # every sampled unit
    result = gap_table(located, registry, census, OPTIONS, footprint=Footprint(layer))
    assert result.report["footprint_share_source"] == "survey"
    inside = shapely.contains_xy(shapely.Polygon(POLYGON), located["lon"], located["lat"])
    weight = located["weight"].to_numpy()
    keys = _keys(located)["district"]
    frame = pd.DataFrame({"key": keys, "all": weight, "in": weight * inside})
    sums = frame.groupby("key")[["all", "in"]].sum()
    expected = sums["in"] / sums["all"]
    districts, cut = _rows(result, "district"), _rows(result, "district_footprint")
    sampled = cut.index[cut.index.isin(expected.index)]
    assert len(sampled) > 0
    column = "unregistered_b40_hi90"  # scaled as it is (households are floored at registered)
    share = cut.loc[sampled, column] / districts.loc[sampled, column]
    np.testing.assert_allclose(share, expected[sampled])


def test_a_small_survey_sample_gives_way_to_the_registrys_share(
    registry, located, census, layer
) -> None:
    # a few dozen surveyed households per district: their share inside says little (often 0
    # while registered households live there), so the registry's share is used
    result = gap_table(located, registry, census, OPTIONS, footprint=Footprint(layer))
    by_source = result.report["footprint_share_sources"]["district"]
    assert by_source.get("registry", 0) > by_source.get("survey", 0)  # provinces: the survey
    cut = _rows(result, "district_footprint")
    assert len(cut) > 0
    assert (cut["households_est"] >= cut["registered"]).all()
    assert (cut.loc[cut["registered"] > 0, "households_est"] > 0).all()


def test_population_raster_gives_the_share(
    registry, survey, census, layer, people, tmp_path
) -> None:
    raster = _write_raster(tmp_path / "people.tif", people, crs="EPSG:4326", unit=None)
    footprint = Footprint(layer, population_raster=raster, raster_unit="people")
    result = gap_table(survey, registry, census, OPTIONS, footprint=footprint)
    assert result.report["footprint_share_source"] == "population_raster"
    # the cells' own share: people in cells whose centre is in the footprint and the district
    rows, cols = np.nonzero(people > 0)
    lon, lat = WEST + (cols + 0.5) * CELL, NORTH - (rows + 0.5) * CELL
    weight = people[rows, cols].astype(np.float64)
    inside = shapely.contains_xy(shapely.Polygon(POLYGON), lon, lat)
    polygons = unit_polygons("district").set_index("code")
    names = district_households().set_index("code")
    expected = {}
    for code, geometry in polygons.geometry.items():
        mine = shapely.contains_xy(geometry, lon, lat)
        if weight[mine].sum() > 0 and (mine & inside).any():
            key = f"{names.loc[code, 'province']}|{names.loc[code, 'district']}"
            expected[key] = weight[mine & inside].sum() / weight[mine].sum()
    districts, cut = _rows(result, "district"), _rows(result, "district_footprint")
    assert len(expected) >= 5
    share = (
        cut.loc[list(expected), "households_est"] / districts.loc[list(expected), "households_est"]
    )
    np.testing.assert_allclose(share, pd.Series(expected), rtol=1e-9)
    # and not the registry's own share (the two differ for some districts)
    registry_share = cut["registered"] / districts.loc[cut.index, "registered"]
    assert not np.allclose(share, registry_share.loc[list(expected)])


@pytest.mark.parametrize(
    ("crs", "unit", "error", "words"),
    [(None, "people", CRSError, "no CRS"), ("EPSG:4326", None, InputError, "declare the unit")],
)
def test_a_raster_without_crs_or_unit_is_refused(
    registry, survey, census, layer, people, tmp_path, crs, unit, error, words
) -> None:
    raster = _write_raster(tmp_path / "bad.tif", people, crs=crs, unit=unit)
    with pytest.raises(error, match=words):
        gap_table(survey, registry, census, OPTIONS, footprint=Footprint(layer, raster))


def test_a_census_below_the_registry_never_puts_fewer_households_than_registered_inside(
    registry, survey, census, layer
) -> None:
    # a census a tenth of the registry (stale or duplicated records): the footprint's share of
    # it would be below the registered households counted inside
    small = census.assign(households=np.maximum(census["households"] // 10, 1))
    result = gap_table(survey, registry, small, OPTIONS, footprint=Footprint(layer))
    cut = _rows(result, "district_footprint")
    assert (cut["registered"] > 0).any()
    assert (cut["households_est"] >= cut["registered"]).all()
