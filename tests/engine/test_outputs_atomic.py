"""A run's output folder is complete or absent: built aside, synced, renamed into place."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import evaluate, load_scenario, maps, write_outputs
from rahat.geo.files import sha256_file

FAST = ("parquet", "csv", "summary", "manifest")


@pytest.fixture(scope="module")
def caseload():
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 50}})
    return evaluate(scenario, synthetic_exposure(800, seed=3))


def _debris(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


def test_a_failed_write_leaves_no_partial_folder(caseload, tmp_path, monkeypatch) -> None:
    def broken_map(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maps, "caseload_map", broken_map)
    out = tmp_path / "run"
    with pytest.raises(OSError):
        write_outputs(caseload, out, formats=(*FAST, "map"))
    assert not out.exists()  # not a folder of caseload files without map and manifest
    assert _debris(tmp_path) == []


def test_a_killed_write_leaves_only_a_temporary_folder(caseload, tmp_path) -> None:
    """SIGKILL while the map is drawn: the run folder is absent; the next write sweeps."""
    out = tmp_path / "run"
    code = textwrap.dedent(
        f"""
        import os, signal
        from rahat.engine.targeting import evaluate, load_scenario, maps, write_outputs
        from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
        scenario = load_scenario({{**BENCH_SCENARIO, "budget": {{"max_households": 50}}}})
        caseload = evaluate(scenario, synthetic_exposure(800, seed=3))
        maps.caseload_map = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        write_outputs(caseload, {str(out)!r}, formats={(*FAST, "map")!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert not out.exists()
    assert len(_debris(tmp_path)) == 1
    paths = write_outputs(caseload, out, formats=FAST)
    assert _debris(tmp_path) == []
    assert json.loads(paths["manifest"].read_text())["outputs"].keys() == {
        "parquet",
        "csv",
        "summary",
    }


def test_an_existing_run_folder_is_replaced_whole(caseload, tmp_path) -> None:
    out = tmp_path / "run"
    write_outputs(caseload, out, formats=FAST)
    write_outputs(caseload, out, formats=("parquet", "manifest"))
    assert sorted(p.name for p in out.iterdir()) == ["caseload.parquet", "manifest.json"]
    assert _debris(tmp_path) == []


def _consistent(folder: Path) -> bool:
    """Whether the manifest's sha256 of every output matches the file beside it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return all(
        sha256_file(folder / entry["file"]) == entry["sha256"]
        for entry in manifest["outputs"].values()
    )


def test_a_failed_write_into_a_shared_folder_keeps_it_consistent(
    caseload, tmp_path, monkeypatch
) -> None:
    """A working folder (other files in it) is never left with outputs of two runs."""
    (tmp_path / "scenario.yaml").write_text("name: mine\n")
    write_outputs(caseload, tmp_path, formats=FAST)
    other = evaluate(
        load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 20}}),
        synthetic_exposure(800, seed=3),
    )

    def broken_map(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maps, "caseload_map", broken_map)
    with pytest.raises(OSError):
        write_outputs(other, tmp_path, formats=(*FAST, "map"))
    assert _consistent(tmp_path)
    monkeypatch.undo()
    write_outputs(other, tmp_path, formats=FAST)
    assert _consistent(tmp_path) and (tmp_path / "scenario.yaml").read_text() == "name: mine\n"
    assert _debris(tmp_path) == []
