"""``rahat run``, ``compare`` and ``sweep`` end to end on a small real registry file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.geo.paths import scenarios_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    from rahat.geo.registry.synth import write_demo

    folder = tmp_path_factory.mktemp("registry")
    write_demo(4000, 2022, folder)
    return folder / "registry.parquet"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def test_run_json_writes_outputs_and_is_deterministic(registry, tmp_path) -> None:
    scenario = scenarios_dir() / "flood_2022_footprint.yaml"
    outs = []
    for name in ("a", "b"):
        result = runner.invoke(
            app,
            [
                "run",
                str(scenario),
                "--registry",
                str(registry),
                "--out",
                str(tmp_path / name),
                "--outputs",
                "parquet,csv,gpkg,summary,map",
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        outs.append(json.loads(result.stdout))
    paths = {k: Path(v) for k, v in outs[0]["outputs"].items()}
    assert {p.name for p in paths.values()} >= {
        "caseload.parquet",
        "caseload.csv",
        "summary.csv",
        "map.png",
        "manifest.json",
    }
    for name in ("caseload.parquet", "caseload.csv", "summary.csv", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert outs[0]["totals"]["selected"] > 0
    # where the time went, by phase (the process's start included)
    phases = outs[0]["phases"]
    assert set(phases) >= {"startup", "registry", "hazards", "overlay", "evaluate", "write"}
    assert all(seconds >= 0 for seconds in phases.values())
    assert 30 < outs[0]["peak_rss_mb"] < 16_000  # this process's high-water mark, in MiB

    cmp = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert cmp.exit_code == 0, cmp.output
    totals = json.loads(cmp.stdout)["totals"]
    assert totals["added"] == totals["dropped"] == 0


def test_sweep_writes_table_and_heatmap(registry, tmp_path) -> None:
    scenario = scenarios_dir() / "flood_2022_footprint.yaml"
    result = runner.invoke(
        app,
        [
            "sweep",
            str(scenario),
            "--registry",
            str(registry),
            "--out",
            str(tmp_path),
            "--vary",
            "pmt_cutoff=20:40:10",
            "--vary",
            "depth=0.1:0.5:0.2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == 9
    assert (tmp_path / "sweep.csv").exists() and (tmp_path / "sweep.png").exists()


def test_bad_scenario_exits_2_without_traceback(registry, tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\neligibility: {pmt_cutof: 3}\nbenefit: {amount: 1}\n")
    result = runner.invoke(
        app, ["run", str(path), "--registry", str(registry), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "did you mean 'pmt_cutoff'" in result.output
    assert "Traceback" not in result.output
