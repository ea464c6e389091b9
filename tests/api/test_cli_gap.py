"""``rahat gap estimate``: the gap table and its manifest from a registry and a survey."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from rahat.api.cli.main import app
from rahat.geo.registry.synth import SURVEY_FILE, write_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gap")
    write_demo(30_000, 4, folder, survey_households=3_000)
    return folder


def _estimate(demo: Path, out: Path, survey: Path | None = None, *more: str) -> Any:
    arguments = [
        "gap", "estimate", "--registry", str(demo / "registry.parquet"),
        "--survey", str(survey or demo / SURVEY_FILE), "--out", str(out),
        "--denominators", "survey", "--bootstrap", "40", "--json", *more,
    ]  # fmt: skip
    return CliRunner().invoke(app, arguments)


@pytest.fixture(scope="module")
def rasters(demo: Path, tmp_path_factory) -> dict[str, Path]:
    """People per 0.1 degree cell of the demo population; and the same without a CRS."""
    import rasterio
    from rasterio.transform import from_origin

    folder = tmp_path_factory.mktemp("rasters")
    population = gpd.read_parquet(demo / "population.parquet")
    west, north, cell, width, height = 60.8, 37.2, 0.1, 172, 137
    grid = np.zeros((height, width), dtype=np.float32)
    col = ((population.geometry.x.to_numpy() - west) / cell).astype(int)
    row = ((north - population.geometry.y.to_numpy()) / cell).astype(int)
    np.add.at(grid, (row, col), population["household_size"].to_numpy(np.float32))
    out = {}
    for name, crs in (("people", "EPSG:4326"), ("no_crs", None)):
        transform = from_origin(west, north, cell, cell)
        profile = {"driver": "GTiff", "width": width, "height": height, "count": 1,
                   "dtype": "float32", "transform": transform}  # fmt: skip
        if crs:
            profile["crs"] = crs
        with rasterio.open(folder / f"{name}.tif", "w", **profile) as dst:
            dst.write(grid, 1)
        out[name] = folder / f"{name}.tif"
    return out


@pytest.fixture(scope="module")
def flood(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("flood") / "flood.geojson"
    ring = [[67.4, 24.9], [69.3, 25.3], [69.0, 27.6], [68.1, 28.2], [67.2, 26.8], [67.4, 24.9]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": {}, "geometry": geometry}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def test_gap_estimate_writes_the_table_and_its_manifest(demo, tmp_path) -> None:
    done = _estimate(demo, tmp_path / "gap")
    assert done.exit_code == 0, done.output
    table = pd.read_csv(tmp_path / "gap" / "gap_by_unit.csv", keep_default_na=False)
    assert list(table.columns) == [
        "level", "unit", "pcode", "households_est", "registered", "coverage",
        "unregistered_b40_est", "unregistered_b40_lo90", "unregistered_b40_hi90",
        "stale_records", "method", "province",
    ]  # fmt: skip
    provinces = table[table["level"] == "province"]
    assert set(provinces["method"]) == {"direct"} and (provinces["pcode"] == "").all()
    assert set(table["method"]) <= {"direct", "fay_herriot", "synthetic"}
    registered = pd.read_parquet(demo / "registry.parquet", columns=["province", "last_updated"])
    assert provinces["registered"].sum() == len(registered)  # every registered household
    updated = pd.to_datetime(registered["last_updated"])
    stale = int((updated < updated.max() - pd.Timedelta(days=5 * 365.25)).sum())
    assert 0 < stale < len(registered)
    assert provinces["stale_records"].sum() == stale  # older than 5 years at the latest update
    districts = table[table["level"] == "district"]
    assert districts["stale_records"].sum() == stale
    ordered = table["unregistered_b40_lo90"] <= table["unregistered_b40_est"]
    assert (ordered & (table["unregistered_b40_est"] <= table["unregistered_b40_hi90"])).all()
    manifest = json.loads((tmp_path / "gap" / "manifest.json").read_text())
    assert manifest["denominators"] == "survey"
    assert sum(manifest["methods"].values()) == len(table)
    again = _estimate(demo, tmp_path / "again")
    assert again.exit_code == 0
    first = (tmp_path / "gap" / "gap_by_unit.csv").read_bytes()
    assert first == (tmp_path / "again" / "gap_by_unit.csv").read_bytes()  # same seed


def test_a_survey_without_weights_is_refused_and_nothing_is_written(demo, tmp_path) -> None:
    survey = pd.read_parquet(demo / SURVEY_FILE).drop(columns=["weight"])
    path = tmp_path / "no_weights.parquet"
    survey.to_parquet(path)
    done = _estimate(demo, tmp_path / "gap", survey=path)
    assert done.exit_code != 0
    assert "weight" in done.output and "Traceback" not in done.output
    assert not (tmp_path / "gap").exists()


def test_footprint_and_population_raster_end_to_end(demo, tmp_path, flood, rasters) -> None:
    done = _estimate(
        demo, tmp_path / "gap", None, "--footprint", str(flood),
        "--population-raster", str(rasters["people"]), "--raster-unit", "people",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    folder = tmp_path / "gap"
    assert sorted(p.name for p in folder.iterdir()) == [
        "gap_by_unit.csv", "gap_map.png", "manifest.json",
    ]  # fmt: skip
    manifest = json.loads((folder / "manifest.json").read_text())
    png = (folder / "gap_map.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert manifest["outputs"]["map"] == {
        "file": "gap_map.png",
        "sha256": hashlib.sha256(png).hexdigest(),
    }
    assert manifest["footprint_share_source"] == "population_raster"
    assert manifest["footprint"]["file"] == "flood.geojson"
    assert manifest["population_raster"]["file"] == "people.tif"
    table = pd.read_csv(folder / "gap_by_unit.csv", keep_default_na=False)
    levels = set(table["level"])
    assert {"province", "district", "tehsil"} <= levels
    assert {"province_footprint", "district_footprint", "tehsil_footprint"} <= levels
    # exact: the registry's households inside the polygon
    points = gpd.read_parquet(demo / "registry.parquet", columns=["geometry"]).geometry
    ring = json.loads(flood.read_text())["features"][0]["geometry"]["coordinates"][0]
    inside = shapely.contains_xy(shapely.Polygon(ring), points.x, points.y).sum()
    in_provinces = table[table["level"] == "province_footprint"]
    assert in_provinces["registered"].sum() == inside > 0
    assert payload["footprint"]["registered"] == inside
    assert payload["footprint"]["share_source"] == "population_raster"
    assert payload["outputs"]["map"].endswith("gap_map.png")


def test_unmatched_units_are_reported(demo, tmp_path) -> None:
    done = CliRunner().invoke(
        app,
        [
            "gap", "estimate", "--registry", str(demo / "registry.parquet"),
            "--survey", str(demo / SURVEY_FILE), "--out", str(tmp_path / "gap"),
            "--bootstrap", "20",
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    manifest = json.loads((tmp_path / "gap" / "manifest.json").read_text())
    found = manifest["tehsils_without_census"]
    assert found["count"] > 0 and len(found["first"]) == min(found["count"], 10)
    text = " ".join(done.output.split())
    assert f"not matched: {found['count']} tehsils without census: {found['first'][0]}" in text
    assert manifest["census_tehsils_matching_no_unit"]["count"] > 0
    assert "gap_map.png" in {entry["file"] for entry in manifest["outputs"].values()}


@pytest.mark.parametrize(
    ("raster", "more", "words"),
    [
        ("no_crs", ["--raster-unit", "people"], "no CRS"),
        ("people", [], "declare the unit"),
        ("people", ["--raster-unit", "people per km2"], "counts of people"),
    ],
)
def test_a_bad_population_raster_is_a_clear_error(
    demo, tmp_path, flood, rasters, raster, more, words
) -> None:
    done = _estimate(
        demo, tmp_path / "gap", None, "--footprint", str(flood),
        "--population-raster", str(rasters[raster]), *more,
    )  # fmt: skip
    assert done.exit_code == 2
    assert words in " ".join(done.output.split()) and "Traceback" not in done.output
    assert not (tmp_path / "gap").exists()


def test_a_population_raster_needs_a_footprint(demo, tmp_path, rasters) -> None:
    done = _estimate(demo, tmp_path / "gap", None, "--population-raster", str(rasters["people"]))
    assert done.exit_code == 2 and "--footprint" in done.output
    assert not (tmp_path / "gap").exists()


@pytest.mark.parametrize(
    ("words", "refused"),
    [
        (("yes", "no"), False),
        (("TRUE", "false"), False),
        (("1", "0"), False),
        (("y", "maybe"), True),
    ],
)
def test_a_csv_survey_with_worded_status_is_read_or_refused(demo, tmp_path, words, refused) -> None:
    survey = pd.read_parquet(demo / SURVEY_FILE)
    truth = survey["registered"].to_numpy(bool)
    written = survey.assign(registered=np.where(truth, words[0], words[1]))
    path = tmp_path / "survey.csv"
    written.to_csv(path, index=False)
    done = _estimate(demo, tmp_path / "gap", survey=path)
    if refused:  # never read as "registered" because the text is not empty
        assert done.exit_code == 2 and "registration status must be true/false" in done.output
        assert "'maybe'" in done.output and not (tmp_path / "gap").exists()
        return
    assert done.exit_code == 0, done.output
    from_parquet = _estimate(demo, tmp_path / "reference")
    assert from_parquet.exit_code == 0
    read = pd.read_csv(tmp_path / "gap" / "gap_by_unit.csv")
    reference = pd.read_csv(tmp_path / "reference" / "gap_by_unit.csv")
    provinces = read["level"] == "province"
    np.testing.assert_array_equal(
        read.loc[provinces, "unregistered_b40_est"],
        reference.loc[provinces, "unregistered_b40_est"],
    )
