"""``rahat trigger evaluate``: the state per stage and area, and activation's caseload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli

REPO = Path(__file__).resolve().parents[2]
FLOOD = REPO / "scenarios" / "flood_2022_footprint.yaml"
#: Tehsils of Dadu (PK703) and Larkana (PK713) districts, in the demo flood.
WET, DRY = ["PK70301", "PK70302", "PK71301"], ["PK70303"]


def _files(tmp_path: Path, **stage: Any) -> Path:
    days = pd.date_range("2022-08-20", "2022-08-31")
    rows = [(c, d.date().isoformat(), 120.0 if c in WET else 5.0) for c in WET + DRY for d in days]
    pd.DataFrame(rows, columns=["pcode", "date", "rain_mm"]).to_csv(tmp_path / "rain.csv")
    trigger = {
        "name": "cli_test",
        "version": 1,
        "areas": {"level": "tehsil", "codes": WET + DRY},
        "sources": {"rain": {"kind": "area_series", "path": "rain.csv", "value": "rain_mm"}},
        "stages": {
            "activation": {
                "when": {
                    "all": [
                        {
                            "source": "rain",
                            "reduce": {"accumulate_days": 3},
                            "above": {"value": 300},
                        }
                    ]
                },
                "scenario": str(FLOOD),
                **stage,
            }
        },
    }
    path = tmp_path / "trigger.yaml"
    path.write_text(yaml.safe_dump(trigger))
    return path


def test_evaluate_says_where_and_why(tmp_path: Path) -> None:
    trigger = _files(tmp_path)
    result = CliRunner().invoke(cli, ["trigger", "evaluate", str(trigger), "--as-of", "2022-08-25"])
    assert result.exit_code == 0, result.output
    assert "activation: fires in 3 of 4 areas" in result.stdout
    assert "rain 360.0 >= 300.0" in result.stdout
    result = CliRunner().invoke(
        cli, ["trigger", "evaluate", str(trigger), "--as-of", "2022-08-25", "--json"]
    )
    body = json.loads(result.stdout)
    assert body["stages"]["activation"]["fires"] == WET
    # the first day with three days of rain is the 22nd: no firing before it
    early = CliRunner().invoke(
        cli, ["trigger", "evaluate", str(trigger), "--as-of", "2022-08-21", "--json"]
    )
    assert json.loads(early.stdout)["stages"]["activation"]["fires"] == []


def test_activation_runs_the_scenario_on_the_firing_areas_only(
    tmp_path: Path, registry_file: Path
) -> None:
    trigger, out = _files(tmp_path), tmp_path / "out"
    args = ["trigger", "evaluate", str(trigger), "--as-of", "2022-08-25", "--outputs", "summary"]
    result = CliRunner().invoke(cli, [*args, "--registry", str(registry_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = {p.name for p in (out / "activation").iterdir()}
    assert written == {"caseload.parquet", "summary.csv", "manifest.json", "rejects.csv"}
    state = json.loads((out / "trigger_state.json").read_text())
    assert state["runs"]["activation"]["areas"] == WET
    caseload = pd.read_parquet(out / "activation" / "caseload.parquet")
    chosen = caseload[caseload["selected"]]
    assert len(chosen) > 0 and set(chosen["tehsil_pcode"].astype(str)) <= set(WET)
    manifest = json.loads((out / "activation" / "manifest.json").read_text())
    assert manifest["trigger"]["stages"]["activation"]["fires"] == WET


def test_bad_input_is_an_exit_code_and_words_and_writes_nothing(tmp_path: Path) -> None:
    trigger, out = _files(tmp_path), tmp_path / "out"
    for extra, words in (
        (["--as-of", "25/08/2022"], "is not a date"),
        (["--as-of", "2023-01-01"], "outside its days"),
    ):
        result = CliRunner().invoke(
            cli, ["trigger", "evaluate", str(trigger), *extra, "--out", str(out)]
        )
        assert result.exit_code == 2 and words in result.output, result.output
        assert "Traceback" not in result.output
    assert not (out / "trigger_state.json").exists()
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nversion: 1\nsources: {}\nstages: {}\n")
    result = CliRunner().invoke(cli, ["trigger", "evaluate", str(broken), "--as-of", "2022-08-25"])
    assert result.exit_code == 2 and "invalid trigger" in result.output


def test_readiness_and_activation_each_give_a_caseload(tmp_path: Path, registry_file: Path) -> None:
    trigger, out = _files(tmp_path), tmp_path / "out"
    data = yaml.safe_load(trigger.read_text())
    readiness = json.loads(json.dumps(data["stages"]["activation"]))
    readiness["when"]["all"][0]["above"]["value"] = 10  # the dry tehsil too
    data["stages"]["readiness"] = readiness
    trigger.write_text(yaml.safe_dump(data))
    args = ["trigger", "evaluate", str(trigger), "--as-of", "2022-08-25", "--json"]
    result = CliRunner().invoke(cli, [*args, "--registry", str(registry_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert runs["readiness"]["areas"] == WET + DRY and runs["activation"]["areas"] == WET
    for stage in ("readiness", "activation"):
        manifest = json.loads((out / stage / "manifest.json").read_text())
        assert manifest["trigger"]["stage"] == stage
    assert runs["readiness"]["selected"] >= runs["activation"]["selected"]
