"""``rahat demo`` shows whom the registry misses, in the country and in its flood footprint."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.engine.gap import GAP_COLUMNS

runner = CliRunner()
HOUSEHOLDS = 2000


def test_demo_estimates_the_gap_and_writes_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rahat.api.cli._common import console

    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(console, "width", 200)
    out = tmp_path / "o"
    args = ["demo", "--households", str(HOUSEHOLDS), "--out", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    gap = json.loads(result.stdout)["gap"]

    table = pd.read_csv(out / "gap" / "gap_by_unit.csv")
    assert list(table.columns) == list(GAP_COLUMNS)
    assert {"province", "district"} <= set(table["level"])
    provinces = table[table["level"] == "province"]
    # whole households in the file, the payload sums the unrounded estimates
    assert abs(gap["unregistered_b40_est"] - provinces["unregistered_b40_est"].sum()) <= len(
        provinces
    )
    assert gap["units"] == len(table) and sum(gap["methods"].values()) == len(table)
    assert Path(gap["file"]) == out / "gap" / "gap_by_unit.csv"
    manifest = json.loads((out / "gap" / "manifest.json").read_text())
    assert manifest["denominators"] == "survey"
    assert manifest["survey"]["file"] == "survey.parquet"
    assert manifest["footprint"]["layer"] == "depth"
    assert manifest["outputs"]["map"]["file"] == "gap_map.png"  # the map, as rahat gap writes
    assert (out / "gap" / "gap_map.png").stat().st_size > 10_000
    assert (out / "truth_comparison.csv").exists()  # the demo's other outputs are still there

    shown = runner.invoke(app, args)  # the same cache: the registry is not built again
    assert shown.exit_code == 0, shown.output
    assert "Whom the registry misses" in shown.output
    assert f"about {gap['unregistered_b40_est']:,} bottom-40% households" in shown.output
    assert "unregistered poor" in shown.output and "in the footprint" in shown.output
    districts = table[table["level"] == "district"]["unit"]
    assert sum(name in shown.output for name in districts) >= 1
