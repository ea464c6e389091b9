"""``rahat run``/``whatif`` with ``--gap`` and ``stale_records``: files, JSON and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.geo.paths import scenarios_dir

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    """Registry, a gap folder (every district of the registry, by province and name, and one
    district that is not in it) and a flood scenario with a reserve and stale records."""
    from rahat.geo.registry.synth import write_demo

    folder = tmp_path_factory.mktemp("inputs")
    write_demo(4000, 2022, folder)
    registry = folder / "registry.parquet"
    frame = pd.read_parquet(registry, columns=["province", "district"])
    pairs = frame.drop_duplicates().sort_values(["province", "district"]).astype(str)
    gap = folder / "gap"
    gap.mkdir()
    with (gap / "gap_by_unit.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        estimates = ["unregistered_b40_est", "unregistered_b40_lo90", "unregistered_b40_hi90"]
        out.writerow(["level", "unit", "pcode", "province", *estimates])
        for province, district in pairs.itertuples(index=False):
            out.writerow(["district", district, "", province, 7, 3, 12])
        out.writerow(["district", "Nowhere", "", "Sindh", 5, 1, 9])
    data = yaml.safe_load((scenarios_dir() / "flood_2022_footprint.yaml").read_text())
    data["budget"] = {"total": 50_000_000, "reserve_for_unregistered": True}
    data["stale_records"] = {"older_than_years": 5, "action": "flag"}
    scenario = folder / "flood_options.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    return registry, gap, scenario, len(pairs)


def test_run_writes_the_gap_and_stale_figures(
    inputs: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    registry, gap, scenario, _ = inputs
    args = ["run", str(scenario), "--registry", str(registry), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--gap", str(gap), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    report = body["gap"]
    assert report["unmatched_gap_units"] == [
        {"unit": "Nowhere", "pcode": None, "province": "Sindh"}
    ]
    assert report["districts_without_gap"] == []
    summary = pd.read_csv(tmp_path / "o" / "summary.csv", skiprows=[1])
    districts = summary[summary["level"] == "district"]
    exposed = int((districts["exposed"] > 0).sum())
    assert report["unregistered_b40_footprint_est"] == 7 * exposed
    held = min(7 * exposed * 25_000, 50_000_000)
    assert body["totals"]["reserved_for_unregistered"] == held
    assert body["totals"]["amount"] <= 50_000_000 - held
    assert (districts["unregistered_b40_est"] == 7).all()
    header = list(summary.columns)
    at = header.index("households")
    assert header[at + 1 : at + 4] == [
        "unregistered_b40_est",
        "unregistered_b40_lo90",
        "unregistered_b40_hi90",
    ]
    assert header[-2:] == ["stale_in_footprint", "stale_selected"]
    assert body["stale_records"]["in_footprint"] == int(summary["stale_in_footprint"].iloc[0])
    tags = (tmp_path / "o" / "summary.csv").read_text().splitlines()[1].split(",")
    assert tags[at + 1] == "#affected+hh+b40+unregistered"
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["gap"] == report and manifest["stale_records"] == body["stale_records"]
    assert any("Nowhere" in w for w in body["warnings"])


def test_whatif_accepts_the_gap_and_the_option(inputs: tuple[Path, Path, Path, int]) -> None:
    registry, gap, scenario, _ = inputs
    args = ["whatif", str(scenario), "--registry", str(registry), "--gap", str(gap)]
    sets = ["--set", "stale_records.action=exclude", "--set", "budget.reserve_for_unregistered=0"]
    result = runner.invoke(app, [*args, *sets, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["base"]["reserved_for_unregistered"] > 0
    assert "reserved_for_unregistered" not in body["variant"]
    assert body["variant"]["stale_selected"] == 0 < body["base"]["stale_selected"]
    assert body["reports"]["variant"]["stale_records"]["action"] == "exclude"


def test_a_reserve_without_gap_and_a_missing_gap_exit_2(
    inputs: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    registry, _, scenario, _ = inputs
    args = ["run", str(scenario), "--registry", str(registry), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--registry", str(registry.parent / "nothing")])
    assert result.exit_code == 2 and "give --gap PATH" in result.output  # before the registry
    result = runner.invoke(app, [*args, "--gap", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no gap_by_unit.csv here" in result.output
    assert not (tmp_path / "o").exists()
