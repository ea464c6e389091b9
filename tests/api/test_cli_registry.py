"""The ``rahat registry`` commands, run as a user would (exit codes, files, messages)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from rahat.api.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "registry", "hazard", "run", "bench"):
        assert command in result.output


def test_synth_info_validate(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(
        app,
        ["registry", "synth", "--households", "20000", "--seed", "5", "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # stderr: the demo's secret note
    assert Path(payload["registry"]).exists() and Path(payload["population"]).exists()

    info = runner.invoke(app, ["registry", "info", payload["registry"], "--json"])
    assert info.exit_code == 0, info.output
    summary = json.loads(info.output)
    assert 16_000 < summary["households"] < 18_000
    assert {row["province"] for row in summary["by_province"]} >= {"Sindh", "Punjab"}

    valid = runner.invoke(app, ["registry", "validate", payload["registry"], "--json"])
    assert valid.exit_code == 0, valid.output
    assert json.loads(valid.output)["rejected"] == 0


def test_validate_reports_rejects_with_exit_code_1(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    runner.invoke(app, ["registry", "synth", "--households", "2000", "--out", str(out)])
    frame = pd.read_parquet(out / "registry.parquet").drop(columns="geometry")
    registry = pd.read_parquet(out / "registry.parquet")
    frame["lon"] = registry["geometry"].map(lambda p: p["x"])
    frame["lat"] = registry["geometry"].map(lambda p: p["y"])
    frame.loc[0, "pmt_score"] = 250.0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    clean = tmp_path / "clean.parquet"
    result = runner.invoke(app, ["registry", "validate", str(bad), "--out", str(clean)])
    assert result.exit_code == 1
    assert "pmt_score: outside 0..100" in result.output
    rejects = pd.read_csv(tmp_path / "bad.csv.rejects.csv")
    assert rejects["row"].tolist() == [0]
    assert len(pd.read_parquet(clean)) == len(frame) - 1


def test_unreadable_file_exit_code_2_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    result = runner.invoke(app, ["registry", "info", str(broken)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "truncated or corrupt" in result.output
