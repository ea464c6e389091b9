"""Caseload files (byte-identical reruns, HXL summary, manifest), compare and sweep."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyogrio
import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import compare_caseloads, evaluate, load_scenario, sweep, write_outputs
from rahat.engine.targeting.maps import sweep_heatmap
from rahat.engine.targeting.sweep import parse_range
from rahat.geo.errors import ScenarioError


@pytest.fixture(scope="module")
def exposure():
    return synthetic_exposure(3000, seed=5)


def make(**budget):
    return load_scenario({**BENCH_SCENARIO, "budget": budget or {"max_households": 120}})


def test_outputs_are_byte_identical_across_runs(exposure, tmp_path) -> None:
    fast = ("parquet", "csv", "summary", "manifest")
    a = write_outputs(evaluate(make(), exposure), tmp_path / "a", formats=fast)
    b = write_outputs(evaluate(make(), exposure), tmp_path / "b", formats=fast)
    for name in fast:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp files
    back = pd.read_parquet(a["parquet"])
    assert len(back) == evaluate(make(), exposure).totals["considered"]
    assert back["rank"].dtype == "Int64"


def test_summary_hxl_row_and_manifest(exposure, tmp_path) -> None:
    caseload = evaluate(make(), exposure)
    paths = write_outputs(caseload, tmp_path, formats=("summary", "parquet", "manifest"))
    lines = paths["summary"].read_text().splitlines()
    assert lines[0].startswith("level,province,district,tehsil,pcode,exposed,eligible,households")
    assert lines[1].startswith("#meta+level,#adm1+name,#adm2+name,#adm3+name")
    assert "#targeted+hh" in lines[1]
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["seed"] == 7 and len(manifest["scenario_sha256"]) == 64
    assert len(manifest["registry"]["sha256"]) == 64
    assert manifest["hazards"]["depth"]["sha256"] == "0" * 64
    assert "created" not in manifest
    assert manifest["outputs"]["parquet"]["file"] == "caseload.parquet"


def test_gpkg_and_map(exposure, tmp_path) -> None:
    caseload = evaluate(make(), exposure)
    paths = write_outputs(caseload, tmp_path, formats=("gpkg", "map"))
    points = pyogrio.read_dataframe(paths["gpkg"])
    assert len(points) == caseload.totals["selected"]
    assert paths["map"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_added_dropped_kept(exposure) -> None:
    a = evaluate(make(max_households=100), exposure)
    b = evaluate(make(max_households=150), exposure)
    cmp = compare_caseloads(a, b)
    t = cmp.totals
    assert t["a_selected"] == 100 and t["b_selected"] == 150
    assert t["kept"] + t["dropped"] == 100 and t["kept"] + t["added"] == 150
    assert t["amount_change"] == 50 * 25000
    assert cmp.by_district["b_households"].sum() == 150
    assert set(cmp.households["status"]) <= {"added", "dropped", "kept"}
    same = compare_caseloads(a.frame, a.frame).totals
    assert same["added"] == same["dropped"] == 0


def test_sweep_grid_and_heatmap(exposure, tmp_path) -> None:
    s = make()
    result = sweep(
        s, exposure, {"pmt_cutoff": parse_range("20:40:10"), "depth": parse_range("0.1:0.5:0.2")}
    )
    assert result.table.shape[0] == 9
    assert result.table[["pmt_cutoff", "depth"]].values.tolist()[:2] == [[20.0, 0.1], [20.0, 0.3]]
    # monotone: a looser PMT cut-off never makes fewer households eligible
    pivot = result.table.pivot(index="depth", columns="pmt_cutoff", values="eligible").to_numpy()
    assert (np.diff(pivot, axis=1) >= 0).all() and (np.diff(pivot, axis=0) <= 0).all()
    one = evaluate(
        s.with_updates({"eligibility.pmt_cutoff": 30.0, "eligibility.hazard.0.min_intensity": 0.3}),
        exposure,
    )
    row = result.table.query("pmt_cutoff == 30 and depth == 0.3").iloc[0]
    assert row["selected"] == one.totals["selected"]
    png = sweep_heatmap(result, tmp_path / "sweep.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_parse_range() -> None:
    assert parse_range("0.1:1.0:0.1") == [round(0.1 * k, 1) for k in range(1, 11)]
    assert parse_range("20:40:2")[-1] == 40
    assert parse_range("1,5,9") == [1.0, 5.0, 9.0]
    with pytest.raises(ScenarioError):
        parse_range("5:1:1")
    with pytest.raises(ScenarioError):
        parse_range("a:b:c")


@pytest.mark.parametrize("name", ["hazards.0.radius_m", "zones.0.layer"])
def test_sweep_refuses_parameters_that_change_the_overlay(exposure, name) -> None:
    """A sweep reuses one overlay: varying the sampling radius would silently change nothing."""
    with pytest.raises(ScenarioError, match="changes the overlay"):
        sweep(make(), exposure, {name: [0.0, 500.0]})
