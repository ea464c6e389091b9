"""``rahat whatif``: totals side by side, ``--json`` with phases, exit 2 on bad overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app

SCENARIO = {
    "name": "whatif_cli",
    "seed": 4,
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {"pmt_cutoff": 30, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    "benefit": {"kind": "fixed", "amount": 25000},
    "budget": {"total": 3_000_000},
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> tuple[Path, Path]:
    """A snapshot of the small synthetic registry and a scenario file."""
    root = tmp_path_factory.mktemp("whatif_cli")
    snapshot = root / "snap"
    result = CliRunner().invoke(
        app, ["registry", "import", str(registry_file), "--out", str(snapshot)]
    )
    assert result.exit_code == 0, result.output
    scenario = root / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    return scenario, snapshot


def listing(*folders: Path) -> set[tuple[str, int]]:
    return {
        (str(Path(r) / n), (Path(r) / n).stat().st_mtime_ns)
        for folder in folders
        for r, _, names in os.walk(folder)
        for n in names
    }


def test_table_and_comparison_line(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    scenario, snapshot = inputs
    before = listing(scenario.parent)
    args = ["whatif", str(scenario), "--registry", str(snapshot), "--set", "pmt_cutoff=45"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "base vs eligibility.pmt_cutoff=45" in result.stdout
    for figure in ("eligible", "selected", "amount", "exposed_reached_share"):
        assert figure in result.stdout
    assert "added " in result.stdout and "dropped " in result.stdout and "cost Rs" in result.stdout
    assert listing(scenario.parent) == before  # no household file written


def test_json_has_both_totals_the_comparison_and_phases(inputs: tuple[Path, Path]) -> None:
    scenario, snapshot = inputs
    args = [
        "whatif",
        str(scenario),
        "--registry",
        str(snapshot),
        "--set",
        "pmt_cutoff=45",
        "--set",
        "budget.total=2e6",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["overrides"] == {"eligibility.pmt_cutoff": "45", "budget.total": 2_000_000}
    assert body["variant"]["budget_total"] == 2_000_000
    assert body["base"]["budget_total"] == 3_000_000
    c = body["comparison"]
    assert c["b_selected"] == body["variant"]["selected"] == c["added"] + c["kept"]
    assert c["amount_change"] == body["variant"]["amount"] - body["base"]["amount"]
    assert {"startup", "registry", "hazards", "overlay", "evaluate"} <= set(body["phases"])


@pytest.mark.parametrize(
    "override", ["bogus=1", "pmt_cutoff", "pmt_cutoff=abc", "hazards.0.radius_m=100"]
)
def test_bad_key_or_value_exits_2_with_one_line(inputs: tuple[Path, Path], override: str) -> None:
    scenario, snapshot = inputs
    args = ["whatif", str(scenario), "--registry", str(snapshot), "--set", override]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.startswith("error:")
