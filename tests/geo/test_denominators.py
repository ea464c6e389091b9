"""Denominators: census households per district and tehsil, and their allocation inside units."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.geo import boundaries
from rahat.geo.denominators import (
    CENSUS_2017_DATE,
    SUM_TOLERANCE,
    allocate,
    district_households,
    match_report,
    normalise_name,
    tehsil_households,
    unit_polygons,
)
from rahat.geo.errors import CRSError, InputError, NoOverlapError
from rahat.geo.paths import reference_file

AS_OF = date(2022, 7, 1)


def test_district_totals_equal_the_2023_census() -> None:
    stats = json.loads(reference_file("admin/osm_2023_districts/statistics.json").read_text())
    frame = district_households()
    assert len(frame) == 156
    published = frame[~frame["estimated"]]
    assert len(published) == 136
    expected = [stats["districts"][d]["households"] for d in published["district"]]
    assert published["households_2023"].tolist() == expected
    assert set(frame.loc[frame["estimated"], "province"]) == {
        "Azad Jammu & Kashmir",
        "Gilgit-Baltistan",
    }
    dadu = frame.set_index("district").loc["Dadu"]
    assert (dadu["code"], dadu["pcode"]) == ("PK703", "PK703")


def test_tehsil_projection_of_a_known_row() -> None:
    frame = tehsil_households(AS_OF)
    assert len(frame) == 536
    row = frame[(frame["district"] == "DADU") & (frame["tehsil"] == "DADU TALUKA")].iloc[0]
    # The derived facts (PBS, Census 2017): 461,665 people, 5.39 per household, 1.81 %/year.
    assert row["population_2017"] == 461_665
    assert row["household_size_2017"] == 5.39
    assert row["growth_rate"] == 0.0181
    assert row["households_2017"] == round(461_665 / 5.39) == 85_652
    years = (AS_OF - CENSUS_2017_DATE).days / 365.25
    assert row["years"] == pytest.approx(5.2950034223, rel=1e-9)
    assert row["households"] == pytest.approx(85_652 * 1.0181**years, rel=1e-12)
    assert row["households"] == pytest.approx(94_186.34, abs=0.01)
    # Islamabad's growth is given in percent in the source: stored as a fraction.
    assert frame["growth_rate"].between(-0.05, 0.15).all()
    back = tehsil_households(CENSUS_2017_DATE)
    assert np.allclose(back["households"], back["households_2017"], rtol=0, atol=1e-9)


def test_normalised_names_share_a_key() -> None:
    assert normalise_name("MEHRABPUR TALUKA") == normalise_name("Mehrab Pur") == "mehrabpur"
    assert normalise_name("ORNACH SUB-TEHSIl") == "ornach"
    assert normalise_name("Gulberg Town") == normalise_name("GULBERG SUB-DIVISION")


def test_sindh_tehsils_get_cod_ab_pcodes_and_the_rest_is_reported() -> None:
    frame = tehsil_households(AS_OF)
    sindh = frame[frame["province"] == "Sindh"]
    assert len(sindh) == 138
    assert sindh["tehsil_pcode"].notna().sum() == sindh["matched"].sum() == 122
    pcode = sindh.set_index("tehsil")["tehsil_pcode"]
    assert pcode["GOLARCHI (S.F.RAHU) TALUKA"] == "PK70103"  # Shaheed Fazil Rahu
    assert pcode["DADU TALUKA"] == "PK70301"
    assert pcode["SUKKUR CITY TALUKA"] == "PK72305"
    assert frame.loc[frame["province"] != "Sindh", "tehsil_pcode"].isna().all()
    report = match_report()
    no_unit = report.no_unit[report.no_unit["province"] == "Sindh"]
    assert set(no_unit["tehsil"]) == {
        "NAZIMABAD SUB-DIVISION",
        "FEROZABAD SUB-DIVISION",
        "GULZAR-E-HIJRI SUB-DIVISION",
        "ARAM BAGH SUB-DIVISION",
        "CIVIL LINES SUB-DIVISION",
        "GARDEN SUB-DIVISION",
        "HARBOUR SUB-DIVISION",
        "MANGHOPIR SUB-DIVISION",
        "MAURIPUR SUB-DIVISION",
        "MOMINABAD SUB-DIVISION",
        "MODEL COLONY SUB-DIVISION",
        "AIRPORT SUB-DIVISION",
        "IBRAHIM HYDRI SUB-DIVISION",
        "MURAD MEMON SUB-DIVISION",
        "SHAH MUREED SUB-DIVISION",
        "KAZI AHMED TALUKA",
    }
    assert set(report.boundaries_without_census["tehsil"]) == {
        "Malir Town",
        "Daulat Pur",
        "Kemari Town",
    }
    # Every tehsil is either matched or reported: none is dropped.
    assert len(report.no_unit) + frame["matched"].sum() == len(frame)
    assert len(report.no_boundary) == len(frame) - 122


def test_match_report_against_a_registry() -> None:
    frame = tehsil_households(AS_OF)
    codes = {"PK70301", "PK-XX/nowhere"}
    report = match_report(codes)
    assert report.registry_without_census == ["PK-XX/nowhere"]
    missing = report.census_without_registry
    assert len(missing) == frame["matched"].sum() - 1
    assert "PK70301" not in set(missing["unit_code"])


def test_settlements_allocation_sums_to_unit_totals() -> None:
    districts = district_households()
    totals = districts.set_index("code")["households_2023"].astype(float)
    totals["PK-XX/nowhere"] = 1234.0
    result = allocate(totals, boundaries.settlements(), units=unit_polygons("district"))
    sums = result.places.groupby("unit")["households"].sum()
    known = totals.drop("PK-XX/nowhere")
    assert set(sums.index) == set(known.index)
    assert np.allclose(sums[known.index], known, rtol=SUM_TOLERANCE, atol=0)
    assert result.unmatched_units.to_dict() == {"PK-XX/nowhere": 1234.0}
    # Units without a settlement keep their total at one point inside them.
    centroids = result.places[result.places["source"] == "centroid"]
    assert sorted(centroids["unit"]) == sorted(result.empty_units)
    assert 0 < len(result.empty_units) < 40
    polygons = unit_polygons("district").set_index("code").geometry
    for row in centroids.itertuples():
        assert polygons[row.unit].contains(_point(row.lon, row.lat))
    # Within a unit, shares follow the settlements' populations.
    lahore = result.places[result.places["unit"] == "PK-PB/lahore"]
    assert np.allclose(
        lahore["households"] / totals["PK-PB/lahore"], lahore["weight"] / lahore["weight"].sum()
    )


def test_settlements_without_population_share_equally() -> None:
    dadu = boundaries.districts().set_index("district").geometry["Dadu"].representative_point()
    places = pd.DataFrame({"lon": [dadu.x, dadu.x + 1e-4], "lat": [dadu.y, dadu.y]})
    result = allocate({"PK703": 10.0}, places, units=unit_polygons("district"))
    assert result.places["households"].tolist() == [5.0, 5.0]
    assert result.empty_units == []


# -- the raster path ----------------------------------------------------------------------------

_CELL = 10_000.0  # metres


def _point(lon: float, lat: float) -> object:
    import shapely

    return shapely.Point(lon, lat)


def _write_raster(
    path: Path, counts: np.ndarray, origin: tuple[float, float], **kw: object
) -> None:
    import rasterio
    from rasterio.transform import from_origin

    profile = {
        "driver": "GTiff",
        "height": counts.shape[0],
        "width": counts.shape[1],
        "count": 1,
        "dtype": "float32",
        "transform": from_origin(origin[0], origin[1], _CELL, _CELL),
        "crs": "EPSG:32642",
    }
    profile.update(kw)
    tags = profile.pop("tags", None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(counts.astype("float32"), 1)
        if tags:
            dst.update_tags(**tags)


@pytest.fixture(scope="module")
def sindh_population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A counts-per-cell raster (UTM 42N, 10 km) built from the demo population of Sindh."""
    from pyproj import Transformer

    from rahat.geo.registry.synth import synthesize

    people = synthesize(3000, seed=21)
    people = people[people["province"] == "Sindh"]
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32642", always_xy=True).transform(
        people["lon"].to_numpy(), people["lat"].to_numpy()
    )
    left, top = np.floor(x.min() / _CELL) * _CELL, np.ceil(y.max() / _CELL) * _CELL
    cols = ((x - left) // _CELL).astype(int)
    rows = ((top - y) // _CELL).astype(int)
    counts = np.zeros((rows.max() + 1, cols.max() + 1))
    np.add.at(counts, (rows, cols), 1.0)
    path = tmp_path_factory.mktemp("raster") / "sindh_people.tif"
    _write_raster(path, counts, (left, top), tags={"units": "people"})
    return {"path": path, "counts": counts, "origin": (left, top), "people": people}


def _sindh_units() -> tuple[pd.Series, object]:
    districts = district_households()
    sindh = districts[districts["province"] == "Sindh"].set_index("code")["households_2023"]
    polygons = unit_polygons("district")
    return sindh.astype(float), polygons[polygons["code"].isin(sindh.index)]


def test_raster_allocation_follows_the_cells(sindh_population: dict[str, object]) -> None:
    from pyproj import Transformer

    totals, units = _sindh_units()
    result = allocate(totals, sindh_population["path"], units=units)
    places = result.places
    sums = places.groupby("unit")["households"].sum()
    assert np.allclose(sums[totals.index], totals, rtol=SUM_TOLERANCE, atol=0)
    cells = places[places["source"] == "raster"]
    # Each cell's weight is the raster's count at its centre, and its share of the unit's
    # households is its share of the unit's people.
    counts = sindh_population["counts"]
    left, top = sindh_population["origin"]
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32642", always_xy=True).transform(
        cells["lon"].to_numpy(), cells["lat"].to_numpy()
    )
    rows, cols = ((top - y) // _CELL).astype(int), ((x - left) // _CELL).astype(int)
    assert np.allclose(cells["weight"].to_numpy(), counts[rows, cols])
    assert np.allclose((x - left) % _CELL, _CELL / 2) and np.allclose((top - y) % _CELL, _CELL / 2)
    unit_weight = cells.groupby("unit")["weight"].transform("sum")
    assert np.allclose(
        cells["households"] / totals[cells["unit"]].to_numpy(), cells["weight"] / unit_weight
    )
    # Cells land in the district their people were drawn in (10 km cells blur the borders).
    people = sindh_population["people"]
    drawn = people.groupby(people["district_pcode"].astype(str)).size()
    assigned = cells.groupby("unit")["weight"].sum()
    both = drawn.reindex(assigned.index).fillna(0)
    assert float(counts.sum()) == len(people)
    assert assigned.sum() > 0.95 * len(people)  # few cell centres fall outside Sindh
    # A small Karachi district may hold no 10 km cell centre (seed 21: Korangi): its total
    # then stays at a point inside it, reported.
    assert len(result.empty_units) <= 2
    assert (assigned - both).abs().sum() / len(people) < 0.25
    assert result.unmatched_units.empty


def test_raster_unit_may_be_declared_by_the_caller(
    tmp_path: Path, sindh_population: dict[str, object]
) -> None:
    path = tmp_path / "untagged.tif"
    _write_raster(path, sindh_population["counts"], sindh_population["origin"])
    totals, units = _sindh_units()
    with pytest.raises(InputError, match="does not say what its cells count"):
        allocate(totals, path, units=units)
    result = allocate(totals, path, units=units, raster_unit="people")
    assert np.isclose(result.places["households"].sum(), totals.sum(), rtol=SUM_TOLERANCE)


def test_raster_of_density_is_refused(tmp_path: Path, sindh_population: dict[str, object]) -> None:
    path = tmp_path / "density.tif"
    counts = sindh_population["counts"] / (_CELL / 1000) ** 2
    _write_raster(path, counts, sindh_population["origin"], tags={"units": "people per km2"})
    totals, units = _sindh_units()
    with pytest.raises(InputError, match="counts of people per cell"):
        allocate(totals, path, units=units)
    with pytest.raises(InputError, match="'density'"):
        allocate(totals, sindh_population["path"], units=units, raster_unit="density")


def test_raster_away_from_the_units_is_refused(
    tmp_path: Path, sindh_population: dict[str, object]
) -> None:
    path = tmp_path / "elsewhere.tif"
    left, top = sindh_population["origin"]
    _write_raster(path, sindh_population["counts"], (left, top + 5e6), tags={"units": "people"})
    totals, units = _sindh_units()
    with pytest.raises(NoOverlapError, match="does not cover"):
        allocate(totals, path, units=units)


def test_raster_without_crs_is_refused(tmp_path: Path, sindh_population: dict[str, object]) -> None:
    path = tmp_path / "no_crs.tif"
    _write_raster(path, sindh_population["counts"], sindh_population["origin"], crs=None)
    totals, units = _sindh_units()
    with pytest.raises(CRSError, match="no CRS"):
        allocate(totals, path, units=units, raster_unit="people")


def test_a_raster_window_past_the_pixel_limit_is_refused_before_reading(
    tmp_path, monkeypatch
) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    import rahat.geo.hazards.limits as limits_module
    from rahat.geo import denominators
    from rahat.geo.errors import TooLargeError
    from rahat.geo.hazards.limits import HazardLimits

    path = tmp_path / "people.tif"
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "float32"}
    with rasterio.open(
        path, "w", **profile, crs="EPSG:4326", transform=from_origin(60.0, 38.0, 0.1, 0.1)
    ) as dst:
        dst.write(np.ones((1, 200, 200), dtype="float32"))
    monkeypatch.setattr(limits_module, "HazardLimits", lambda: HazardLimits(max_pixels=1_000))
    units = denominators.unit_polygons("district")
    totals = dict.fromkeys(units["code"].head(5), 100.0)
    with pytest.raises(TooLargeError, match="population raster"):
        denominators.allocate(totals, path, units=units, raster_unit="people")
