"""``rahat gap plan``: outreach sites from the gap table of a small synthetic registry."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app
from rahat.engine.gap.outreach import SITE_COLUMNS
from rahat.geo.files import sha256_file
from rahat.geo.registry.synth import SURVEY_FILE, write_demo


@pytest.fixture(scope="module")
def gap(tmp_path_factory) -> Path:
    """The gap folder of a 30,000-household demo (``rahat gap estimate``), made once."""
    folder = tmp_path_factory.mktemp("plan")
    write_demo(30_000, 4, folder, survey_households=3_000)
    arguments = [
        "gap", "estimate", "--registry", str(folder / "registry.parquet"),
        "--survey", str(folder / SURVEY_FILE), "--out", str(folder / "gap"),
        "--denominators", "survey", "--bootstrap", "20",
    ]  # fmt: skip
    done = CliRunner().invoke(app, arguments)
    assert done.exit_code == 0, done.output
    return folder / "gap"


def _plan(*arguments: str) -> object:
    return CliRunner().invoke(app, ["gap", "plan", *arguments])


def test_gap_plan_writes_sites_map_and_manifest(gap, tmp_path) -> None:
    out = tmp_path / "plan"
    done = _plan("--gap", str(gap), "--sites", "6", "--out", str(out), "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    sites = pd.read_csv(out / "outreach_sites.csv", keep_default_na=False)
    assert list(sites.columns) == list(SITE_COLUMNS)
    assert sites["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    yields = sites["expected_yield"]
    assert (yields.diff().dropna() <= 0.1).all()  # greedy: each site adds no more than the last
    assert sites["cumulative_yield"].iloc[-1] == pytest.approx(yields.sum(), abs=0.5)
    table = pd.read_csv(gap / "gap_by_unit.csv", keep_default_na=False)
    expected = table.loc[table["level"] == "district", "unregistered_b40_est"].sum()
    assert report["demand"]["households"] == pytest.approx(expected, abs=1)
    assert report["demand"]["unmatched_districts"] == {}
    assert report["plan"]["reach"] == pytest.approx(sites["cumulative_yield"].iloc[-1], abs=0.5)
    assert report["plan"]["share"] == pytest.approx(sites["cumulative_share"].iloc[-1], abs=1e-3)
    assert report["baseline"]["centres"] > 100 and report["baseline"]["reach"] > 0
    assert report["plan"]["door_to_door_per_household"] == 2.47
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gap"]["sha256"] == sha256_file(gap / "gap_by_unit.csv")
    assert manifest["options"]["radius_km"] == 15.0
    assert manifest["figures"] == {k: report[k] for k in manifest["figures"]}
    assert (out / "outreach_map.png").read_bytes()[:4] == b"\x89PNG"
    text = _plan("--gap", str(gap / "gap_by_unit.csv"), "--sites", "6", "--out", str(out))
    assert text.exit_code == 0 and "6 sites reach about" in text.output
    assert "one centre per tehsil" in text.output


def test_gap_plan_with_a_footprint_decay_and_sites_csv(gap, tmp_path) -> None:
    ring = [[66.5, 24.5], [69.5, 24.5], [69.5, 28.5], [66.5, 28.5], [66.5, 24.5]]
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon"}}
    feature["geometry"]["coordinates"] = [ring]  # type: ignore[index]
    footprint = tmp_path / "footprint.geojson"
    footprint.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    sites = tmp_path / "sites.csv"
    sites.write_text(
        "name,lon,lat\nDadu,67.78,26.73\nLarkana,68.21,27.56\nQuetta,67.0,30.18\n"
        "Lahore,74.34,31.55\n,68.0,25.0\nNowhere,abc,25.0\nPole,68.0,91\n"
    )
    out = tmp_path / "plan"
    done = _plan(
        "--gap", str(gap), "--sites", "2", "--out", str(out), "--footprint", str(footprint),
        "--decay-km", "20", "--sites-csv", str(sites), "--cost-site", "100", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["candidates"] == 4 and report["candidates_rejected"] == 3
    assert report["demand"]["in_footprint"] > 0
    assert report["plan"]["reach_in_footprint"] > 0
    assert report["coverage"].startswith("exp(-d / 20 km)")
    assert {s["name"] for s in report["sites"]} <= {"Dadu", "Larkana", "Quetta", "Lahore"}
    plan = report["plan"]
    assert plan["cost_total"] == pytest.approx(plan["reach"] * 0.53 + 200, abs=0.1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["candidates"]["rejected"] == 3
    assert [r["row"] for r in manifest["candidates"]["rejected_rows"]] == [5, 6, 7]
    assert manifest["footprint"]["sha256"] == sha256_file(footprint)


def test_gap_plan_reports_districts_matching_no_boundary(gap, tmp_path) -> None:
    table = pd.read_csv(gap / "gap_by_unit.csv", keep_default_na=False)
    extra = table[table["level"] == "district"].head(1).assign(unit="Atlantis", pcode="")
    path = tmp_path / "gap_by_unit.csv"
    pd.concat([table, extra]).to_csv(path, index=False)
    done = _plan("--gap", str(path), "--sites", "3", "--out", str(tmp_path / "plan"))
    assert done.exit_code == 0, done.output
    assert "1 district(s) match no boundary (Atlantis)" in done.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("sites", "more than the 4 candidate sites (1 row(s) of the sites were left out: row 5"),
        ("columns", "unregistered_b40_est"),
        ("zero", "--sites"),
        ("missing", "no such file"),
    ],
)
def test_gap_plan_refuses_bad_input_and_writes_nothing(gap, tmp_path, change, message) -> None:
    sites = tmp_path / "sites.csv"
    rows = "a,67.7,26.7\nb,68.2,27.5\nc,67.0,30.1\nd,74.3,31.5\ne,not-a-number,26.0\n"
    sites.write_text("name,lon,lat\n" + rows)  # row 5 is left out (its lon)
    source, k = gap, "5" if change == "sites" else "2"
    if change == "columns":
        source = tmp_path / "bad.csv"
        pd.read_csv(gap / "gap_by_unit.csv").drop(columns="unregistered_b40_est").to_csv(source)
    if change == "missing":
        source = tmp_path / "nothing_here"
    k = "0" if change == "zero" else k
    out = tmp_path / "plan"
    done = _plan("--gap", str(source), "--sites", k, "--sites-csv", str(sites), "--out", str(out))
    assert done.exit_code == 2, done.output
    assert message in done.output and "Traceback" not in done.output
    assert not out.exists()


def _uniform_raster(path: Path, tags: dict[str, str] | None) -> Path:
    """One person per 0.25-degree cell over Pakistan (EPSG:4326)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    counts = np.ones((56, 70), dtype="float32")
    profile = {"driver": "GTiff", "height": 56, "width": 70, "count": 1, "dtype": "float32"}
    profile |= {"transform": from_origin(60.5, 37.5, 0.25, 0.25), "crs": "EPSG:4326"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(counts, 1)
        if tags:
            dst.update_tags(**tags)
    return path


def test_gap_plan_spreads_demand_over_a_population_raster(gap, tmp_path) -> None:
    raster = _uniform_raster(tmp_path / "people.tif", {"units": "people"})
    out = tmp_path / "plan"
    done = _plan("--gap", str(gap), "--sites", "3", "--out", str(out), "--population-raster",
                 str(raster), "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["demand"]["points"] > 1000  # cells, not the ~500 settlements
    table = pd.read_csv(gap / "gap_by_unit.csv", keep_default_na=False)
    expected = table.loc[table["level"] == "district", "unregistered_b40_est"].sum()
    assert report["demand"]["households"] == pytest.approx(expected, abs=1)
    unitless = _uniform_raster(tmp_path / "unitless.tif", None)
    refused = _plan("--gap", str(gap), "--sites", "3", "--out", str(tmp_path / "no"),
                    "--population-raster", str(unitless))  # fmt: skip
    assert refused.exit_code == 2 and "unit" in refused.output
    assert not (tmp_path / "no").exists()
    declared = _plan("--gap", str(gap), "--sites", "3", "--out", str(tmp_path / "yes"),
                     "--population-raster", str(unitless), "--raster-unit", "people")  # fmt: skip
    assert declared.exit_code == 0, declared.output


def test_gap_plan_spreads_demand_over_the_registry_households(gap, tmp_path) -> None:
    registry = gap.parent / "registry.parquet"
    out = tmp_path / "by_registry"
    done = _plan("--gap", str(gap), "--sites", "4", "--registry", str(registry), "--out", str(out))
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["demand_over"] == "registry households (5 km grid)"
    assert manifest["registry"]["sha256"] == sha256_file(registry)
    by_towns = _plan("--gap", str(gap), "--sites", "4", "--out", str(tmp_path / "t"), "--json")
    assert by_towns.exit_code == 0, by_towns.output
    towns = json.loads(by_towns.output)["demand"]
    assert manifest["figures"]["demand"]["households"] == pytest.approx(towns["households"])
    # many more demand points than the settlements give, the same total
    assert manifest["figures"]["demand"]["points"] > 3 * towns["points"]
    both = _plan(
        "--gap", str(gap), "--sites", "4", "--registry", str(registry),
        "--population-raster", str(registry), "--out", str(tmp_path / "both"),
    )  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output
    assert not (tmp_path / "both").exists()
