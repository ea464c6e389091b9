"""``rahat registry import`` / ``verify`` and runs from snapshots, end to end.

A run from a snapshot must write byte-identical caseload files to a run that reads and validates
the raw file; a plain file given to ``rahat run`` is imported into the cache once, and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.geo.paths import scenarios_dir

runner = CliRunner()

N_BAD = 3
#: Files of a run that must not depend on where the registry came from.
SAME = ("caseload.parquet", "caseload.csv", "summary.csv", "rejects.csv")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """A small demo registry, shuffled, with a few invalid rows."""
    from rahat.geo.registry.io import write_registry
    from rahat.geo.registry.synth import write_demo
    from rahat.geo.registry.validate import read_registry

    folder = tmp_path_factory.mktemp("registry")
    _, path = write_demo(4000, 2022, folder)
    frame = read_registry(path).registry.frame.copy()
    frame.loc[frame.index[:N_BAD], "household_size"] = np.int16(0)
    return write_registry(frame.sample(frac=1.0, random_state=2), folder / "shuffled.parquet")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))


def _import(registry: Path, out: Path) -> dict:
    result = runner.invoke(app, ["registry", "import", str(registry), "--out", str(out), "--json"])
    assert result.exit_code == 1, result.output  # some rows rejected
    return json.loads(result.stdout)


def test_import_and_verify(registry, tmp_path) -> None:
    payload = _import(registry, tmp_path / "snap")
    assert payload["rejected"] == N_BAD and payload["households"] > 0
    assert payload["schema_version"] == 1 and len(payload["sha256"]) == 64
    assert Path(payload["rejects_file"]).is_file()

    ok = runner.invoke(app, ["registry", "verify", str(tmp_path / "snap"), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["sha256"] == payload["sha256"]

    arrow = tmp_path / "snap" / "households.arrow"
    data = bytearray(arrow.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrow.write_bytes(bytes(data))
    bad = runner.invoke(app, ["registry", "verify", str(tmp_path / "snap")])
    assert bad.exit_code == 2
    assert "rahat registry import" in bad.stderr and "Traceback" not in bad.output


def test_verify_refuses_a_folder_that_is_no_snapshot(tmp_path) -> None:
    result = runner.invoke(app, ["registry", "verify", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a registry snapshot" in result.stderr


def _run(registry: Path, out: Path) -> tuple[dict, str]:
    scenario = scenarios_dir() / "flood_2022_footprint.yaml"
    arguments = ["run", str(scenario), "--registry", str(registry), "--out", str(out)]
    # the CSV is written on request only: ask for it, to compare it too
    result = runner.invoke(app, [*arguments, "--outputs", "csv,gpkg,map", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def test_runs_from_a_snapshot_and_from_the_raw_file_write_identical_files(
    registry, tmp_path
) -> None:
    from rahat.engine.pipeline import run_scenario
    from rahat.engine.targeting import load_scenario
    from rahat.engine.targeting.outputs import ALL_FORMATS

    # the raw file read and validated in memory, as before snapshots
    validated = tmp_path / "validated"
    run_scenario(
        load_scenario(scenarios_dir() / "flood_2022_footprint.yaml"),
        registry_path=registry,
        out_dir=validated,
        formats=ALL_FORMATS,
    )
    _import(registry, tmp_path / "snap")
    from_snapshot, _ = _run(tmp_path / "snap", tmp_path / "from-snapshot")
    first, told = _run(registry, tmp_path / "raw-1")
    assert "imported registry" in told and "next runs reuse it" in told
    second, told_again = _run(registry, tmp_path / "raw-2")
    assert "imported registry" not in told_again  # the cached snapshot is reused

    for folder in ("from-snapshot", "raw-1", "raw-2"):
        for name in SAME:
            assert (tmp_path / folder / name).read_bytes() == (validated / name).read_bytes(), (
                folder,
                name,
            )
    assert from_snapshot["registry_rejected"] == first["registry_rejected"] == N_BAD
    assert from_snapshot["rejected_reasons"] == first["rejected_reasons"]
    assert from_snapshot["totals"] == second["totals"]


def test_a_truncated_snapshot_is_refused_by_run(registry, tmp_path) -> None:
    _import(registry, tmp_path / "snap")
    arrow = tmp_path / "snap" / "households.arrow"
    arrow.write_bytes(arrow.read_bytes()[:-10])
    scenario = scenarios_dir() / "flood_2022_footprint.yaml"
    result = runner.invoke(
        app,
        ["run", str(scenario), "--registry", str(tmp_path / "snap"), "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2
    assert "truncated" in result.stderr and "rahat registry import" in result.stderr
    assert not (tmp_path / "o" / "caseload.parquet").exists()


def test_the_service_describes_a_snapshot_registry(registry, tmp_path) -> None:
    from rahat.api.service.registry_status import registry_status

    payload = _import(registry, tmp_path / "snap")
    status = registry_status(tmp_path / "snap")
    assert status.exists and status.households == payload["households"]
