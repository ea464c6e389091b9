"""Every entry point that reads a registry reports its rejected rows and the readers' warnings.

``rahat run``, ``sweep``, ``compare`` and ``demo`` and the API's job runner write the rejects
file, print or return the count, and ``rahat run`` prints the cut line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.geo.paths import scenarios_dir

runner = CliRunner()

N_REJECTED = 12


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def bad_registry(tmp_path_factory) -> Path:
    """A demo registry as CSV with 12 invalid rows (PMT score out of range)."""
    from rahat.geo.registry.synth import write_demo
    from rahat.geo.registry.validate import read_registry

    folder = tmp_path_factory.mktemp("registry")
    write_demo(4000, 2022, folder)
    frame = read_registry(folder / "registry.parquet").registry.frame.copy()
    frame.loc[frame.index[:N_REJECTED], "pmt_score"] = 150.0
    path = folder / "registry.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    """The footprint scenario with a budget that binds on a small registry."""
    text = (scenarios_dir() / "flood_2022_footprint.yaml").read_text(encoding="utf-8")
    text = text.replace("budget: {same_as: bisp_2022_as_done}", "budget: {total: 2500000}")
    path = tmp_path_factory.mktemp("scenario") / "footprint.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _rejects(path: Path) -> pd.DataFrame:
    rejects = pd.read_csv(path)
    assert len(rejects) == N_REJECTED
    assert rejects["reason"].str.contains("pmt_score").all()
    return rejects


def test_run_prints_rejects_and_cut_line(bad_registry, scenario, tmp_path) -> None:
    result = runner.invoke(
        app, ["run", str(scenario), "--registry", str(bad_registry), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # undo rich's line wrapping
    assert f"{N_REJECTED} registry row(s) failed validation" in text
    assert "rejects.csv" in text
    assert re.search(r"cut line: \d+ eligible household\(s\) cut by full quotas in \d+ of", text)
    assert "the last selected is rank" in text
    _rejects(tmp_path / "rejects.csv")


def test_run_json_returns_rejects_and_warnings(bad_registry, scenario, tmp_path) -> None:
    result = runner.invoke(
        app,
        ["run", str(scenario), "--registry", str(bad_registry), "--out", str(tmp_path), "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["registry_rejected"] == N_REJECTED
    assert payload["totals"]["registry_rejected"] == N_REJECTED
    assert payload["rejected_reasons"] == {"pmt_score: outside 0..100": N_REJECTED}
    assert isinstance(payload["warnings"], list)
    assert isinstance(payload["location_mismatches"], int)
    assert payload["cut"]["cut_by_quota"] > 0
    _rejects(Path(payload["outputs"]["rejects"]))
    manifest = json.loads(Path(payload["outputs"]["manifest"]).read_text())
    assert manifest["registry"]["rejected_rows"] == N_REJECTED
    assert manifest["outputs"]["rejects"]["file"] == "rejects.csv"


def test_sweep_writes_rejects_and_counts_them(bad_registry, scenario, tmp_path) -> None:
    args = ["sweep", str(scenario), "--registry", str(bad_registry), "--out", str(tmp_path)]
    args += ["--vary", "pmt_cutoff=20,30"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["registry_rejected"] == N_REJECTED
    _rejects(Path(payload["outputs"]["rejects"]))
    human = runner.invoke(app, args)
    assert human.exit_code == 0, human.output
    assert f"{N_REJECTED} registry row(s) failed validation" in " ".join(human.output.split())


def test_compare_of_scenarios_writes_rejects_and_counts_them(
    bad_registry, scenario, tmp_path
) -> None:
    result = runner.invoke(
        app,
        [
            "compare",
            str(scenario),
            str(scenarios_dir() / "flood_2022_footprint.yaml"),
            "--registry",
            str(bad_registry),
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["registry_rejected"] == N_REJECTED
    assert payload["outputs"]["rejects"] == str(tmp_path / "rejects.csv")
    _rejects(tmp_path / "rejects.csv")


def test_api_job_runner_returns_the_count_only(bad_registry, tmp_path) -> None:
    import yaml

    from rahat.api.service.jobs import run_pipeline

    data = yaml.safe_load((scenarios_dir() / "flood_2022_footprint.yaml").read_text())
    totals = run_pipeline(
        data,
        registry_path=bad_registry,
        hazard_paths={},
        out_dir=tmp_path,
        progress=lambda stage, fraction: None,
    )
    assert totals["registry_rejected"] == N_REJECTED
    json.dumps(totals)  # JSON-safe
    assert not any("pmt_score" in str(v) for v in totals.values())  # no row content
    _rejects(tmp_path / "rejects.csv")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["registry"]["rejected_rows"] == N_REJECTED


def test_demo_writes_rejects_into_each_run(tmp_path) -> None:
    from rahat.api.cli.demo import DEMO_SCENARIOS, run_demo

    _, _, runs = run_demo(tmp_path / "out", households=2000)
    assert len(runs) == len(DEMO_SCENARIOS) + 1  # and the first rule at the second's spend
    for _, folder, result in runs:
        assert result.outputs["rejects"] == folder / "rejects.csv"
        assert pd.read_csv(folder / "rejects.csv").empty
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["registry"]["rejected_rows"] == 0
        assert "warnings" in manifest


def test_cut_line_in_words() -> None:
    from rahat.api.cli.targeting import cut_line

    cut = {
        "last_selected_rank": 1202,
        "score_at_cut": 0.4151,
        "first_unselected_rank": 1203,
        "score_first_unselected": 0.4121,
        "quota_units": 1,
        "cut_by_budget": 6634,
        "cut_by_quota": 0,
        "quota_units_full": 0,
    }
    assert cut_line({"cut": cut}) == (
        "6,634 eligible household(s) cut by the budget from rank 1,203 (score 0.412) on; "
        "the last selected is rank 1,202 (score 0.415)"
    )
    assert cut_line({"cut": {**cut, "first_unselected_rank": None}}) is None
