"""``rahat hazard inspect`` / ``validate`` and the inspect benchmark."""

from __future__ import annotations

import json

import pytest
import typer
from rasterio.transform import from_origin
from typer.testing import CliRunner

from rahat.api.cli import hazard
from rahat.benchmarks.hazards import bench_inspect


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Root."""

    root.add_typer(hazard.app)
    return root


def test_inspect_json_and_table(hz, app, real_data):
    runner = CliRunner()
    result = runner.invoke(app, ["hazard", "inspect", str(real_data(hz.WATCH)), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["crs"] == "EPSG:4326" and info["features"] == 43
    assert info["affected_km2"] > 0 and info["warnings"]
    result = runner.invoke(app, ["hazard", "inspect", str(real_data(hz.WATCH))])
    assert result.exit_code == 0 and "EPSG:4326" in result.stdout and "affected" in result.stdout


def test_inspect_raster_with_options(hz, app, tmp_path):
    path = hz.write_raster(
        tmp_path / "d.tif",
        hz.depth_field(60, 80),
        crs=None,
        transform=from_origin(67, 26, 0.01, 0.01),
    )
    result = CliRunner().invoke(
        app,
        ["hazard", "inspect", str(path), "--crs", "EPSG:4326", "--kind", "flood_depth", "--json"],
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["kind"] == "flood_depth" and info["resolution"] == [0.01, 0.01]
    assert [c["label"] for c in info["classes"]] == ["dry", "low", "medium", "high"]


def test_validate_exit_codes(hz, app, tmp_path):
    good = hz.write_raster(tmp_path / "ok.tif", hz.depth_field(30, 30))
    result = CliRunner().invoke(app, ["hazard", "validate", str(good)])
    assert result.exit_code == 0 and "ok" in result.stdout
    bad = tmp_path / "bad.tif"
    bad.write_text("not a raster")
    result = CliRunner().invoke(app, ["hazard", "validate", str(bad)])
    assert result.exit_code == 2
    assert "bad.tif" in result.stderr and "Traceback" not in result.output
    nocrs = hz.write_raster(
        tmp_path / "nocrs.tif",
        hz.depth_field(30, 30),
        crs=None,
        transform=from_origin(67, 26, 0.01, 0.01),
    )
    result = CliRunner().invoke(app, ["hazard", "inspect", str(nocrs)])
    assert result.exit_code == 2 and "no CRS" in result.stderr


def test_bench_inspect_small(tmp_path):
    out = bench_inspect(tmp_path, width=700, height=550, run_cli=False)
    assert out["seconds"] > 0 and out["peak_rss_mb"] > 0 and out["affected_km2"] > 0
    assert (tmp_path / "bench_hazard_700x550_b256.tif").exists()
