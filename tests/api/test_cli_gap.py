"""``rahat gap estimate``: the gap table and its manifest from a registry and a survey."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app
from rahat.geo.registry.synth import SURVEY_FILE, write_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gap")
    write_demo(30_000, 4, folder, survey_households=3_000)
    return folder


def _estimate(demo: Path, out: Path, survey: Path | None = None) -> object:
    arguments = [
        "gap", "estimate", "--registry", str(demo / "registry.parquet"),
        "--survey", str(survey or demo / SURVEY_FILE), "--out", str(out),
        "--denominators", "survey", "--bootstrap", "40", "--json",
    ]  # fmt: skip
    return CliRunner().invoke(app, arguments)


def test_gap_estimate_writes_the_table_and_its_manifest(demo, tmp_path) -> None:
    done = _estimate(demo, tmp_path / "gap")
    assert done.exit_code == 0, done.output
    table = pd.read_csv(tmp_path / "gap" / "gap_by_unit.csv", keep_default_na=False)
    assert list(table.columns) == [
        "level", "unit", "pcode", "households_est", "registered", "coverage",
        "unregistered_b40_est", "unregistered_b40_lo90", "unregistered_b40_hi90",
        "stale_records", "method",
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
