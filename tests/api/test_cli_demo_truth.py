"""``rahat demo`` at equal money, measured against the synthetic truth of the population."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.geo.paths import scenarios_dir

runner = CliRunner()
HOUSEHOLDS = 4000


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[dict, Path, Path]:
    """``rahat demo --json`` on a small population; its payload, output and cache folders."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    mp.setenv("RAHAT_CACHE_DIR", str(cache))
    out = tmp_path_factory.mktemp("demo") / "rahat-out"
    try:
        result = runner.invoke(
            app, ["demo", "--households", str(HOUSEHOLDS), "--out", str(out), "--json"]
        )
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    folder = cache / "demo" / f"households-{HOUSEHOLDS}-seed-2022"
    return json.loads(result.stdout), out, folder


def test_footprint_budget_is_what_bisp_spends_on_this_registry(demo) -> None:
    payload, _, _ = demo
    bisp, footprint, _ = (run["totals"] for run in payload["runs"])
    assert bisp["amount"] > 0
    assert footprint["budget_total"] == bisp["amount"] != 611_050_000
    assert footprint["budget_same_as"] == "bisp_2022_as_done"
    assert footprint["amount"] <= footprint["budget_total"]


def test_bisp_rule_is_also_measured_at_the_footprint_rules_spend(demo) -> None:
    """Equal spend, not only equal budget: BISP's rule capped at what the footprint spends."""
    payload, out, _ = demo
    bisp, footprint, capped = payload["runs"]
    assert capped["scenario"] == "bisp_2022_as_done_at_equal_spend"
    assert (
        capped["totals"]["budget_total"] == footprint["totals"]["amount"] < bisp["totals"]["amount"]
    )
    # the same benefit (Rs 25,000 each), so equal spend to the rupee
    assert capped["totals"]["amount"] == footprint["totals"]["amount"]
    assert capped["totals"]["eligible"] == bisp["totals"]["eligible"]  # BISP's own rules
    assert capped["totals"]["selected"] < bisp["totals"]["selected"]
    rows = {row["scenario"]: row for row in payload["truth"]["rows"]}
    assert (
        rows["bisp_2022_as_done_at_equal_spend"]["amount"] == rows["flood_2022_footprint"]["amount"]
    )
    assert (out / "bisp_2022_as_done_at_equal_spend" / "manifest.json").exists()


def test_truth_is_the_exposed_poor_of_the_whole_population(demo, tmp_path) -> None:
    """The truth, recomputed by running a scenario with the same rules on the population."""
    from rahat.engine.pipeline import run_scenario
    from rahat.engine.targeting import load_scenario
    from rahat.engine.targeting.truth import load_population, poor_bound

    payload, out, folder = demo
    population, registered = load_population(folder / "population.parquet")
    assert not registered.all()  # some households are outside the registry
    bound = poor_bound(population.array("pmt_score"))
    check = load_scenario(
        {
            "name": "truth_check",
            "hazards": [
                {"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}
            ],
            "eligibility": {
                "pmt_cutoff": bound,
                "hazard": [{"layer": "depth", "min_intensity": 0.3}],
            },
            "benefit": {"kind": "fixed", "amount": 1},
        }
    )
    frame = run_scenario(
        check, registry_path=folder / "population.parquet", out_dir=tmp_path
    ).caseload.frame
    truth_ids = np.sort(frame.loc[frame["selected"], "household_id"].to_numpy(np.int64))
    truth = payload["truth"]
    assert truth["households"] == len(truth_ids) > 0
    assert truth["registered"] < truth["households"]
    assert "depth >= 0.3" in truth["definition"]

    table = pd.read_csv(out / "truth_comparison.csv")
    assert list(table["scenario"]) == [
        "bisp_2022_as_done",
        "flood_2022_footprint",
        "bisp_2022_as_done_at_equal_spend",
    ]
    rows = {row["scenario"]: row for row in truth["rows"]}
    for name, row in rows.items():
        caseload = pd.read_parquet(out / name / "caseload.parquet")
        sel = caseload[caseload["selected"]]
        ids = sel["household_id"].to_numpy(np.int64)
        hit = np.isin(ids, truth_ids)
        amount = int(sel["amount"].sum())
        assert row["amount"] == amount and row["selected"] == len(ids)
        assert row["truth_reached"] == int(hit.sum())
        assert row["truth_reached_share"] == pytest.approx(hit.sum() / len(truth_ids))
        assert row["inclusion_error"] == pytest.approx((~hit).sum() / len(ids))
        assert row["exclusion_error"] == pytest.approx(1 - hit.sum() / len(truth_ids))
        people = int(sel["household_size"].sum())
        assert row["people_per_million"] == pytest.approx(people / (amount / 1e6))
        assert row["truth_people_per_million"] == pytest.approx(
            int(sel.loc[hit, "household_size"].sum()) / (amount / 1e6)
        )
        assert row["excluded_unregistered"] == truth["households"] - truth["registered"]
        csv_row = table[table["scenario"] == name].iloc[0]
        assert csv_row["truth_reached"] == row["truth_reached"]
    # The footprint rule cannot reach households the registry misses: below 100%.
    assert rows["flood_2022_footprint"]["truth_reached_share"] < 1


def test_demo_prints_the_truth_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    from rahat.api.cli._common import console

    monkeypatch.setattr(console, "width", 200)  # headers on one line whatever the terminal
    result = runner.invoke(app, ["demo", "--households", "2000", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "Against the truth" in result.output
    assert "inclusion error" in result.output and "exclusion error" in result.output
    assert (tmp_path / "o" / "truth_comparison.csv").exists()


def test_api_job_resolves_same_as_from_the_scenarios_folder(demo, tmp_path) -> None:
    """An API run of the footprint scenario (stored as a mapping, no file) spends as BISP."""
    from rahat.api.service.jobs import run_pipeline

    payload, _, folder = demo
    data = yaml.safe_load((scenarios_dir() / "flood_2022_footprint.yaml").read_text())
    totals = run_pipeline(
        data,
        registry_path=folder / "registry.parquet",
        hazard_paths={},
        out_dir=tmp_path,
        progress=lambda stage, fraction: None,
    )
    assert totals["budget_total"] == payload["runs"][0]["totals"]["amount"]
    assert totals["budget_same_as"] == "bisp_2022_as_done"
