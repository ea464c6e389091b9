"""``run_scenario`` end to end on a registry file with invalid rows: nothing is dropped silently.

Rejected rows go to ``rejects.csv`` and are counted; the readers' warnings, the location
mismatches and the hash of every output are in the manifest; the outputs do not depend on the
order of the registry's rows.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.engine.pipeline import REJECTS_FILE, RunResult, run_scenario
from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.outputs import ALL_FORMATS
from rahat.geo.paths import scenarios_dir

#: Invalid rows written into the registry file, by how they are broken.
N_BAD_PMT, N_BAD_LON, N_BAD_SIZE = 6, 3, 3
N_REJECTED = N_BAD_PMT + N_BAD_LON + N_BAD_SIZE
#: Valid households whose recorded district is not the district at their location.
N_MOVED = 5
#: Files whose bytes must not depend on the registry's row order.
ORDER_FREE = ("caseload.csv", "caseload.parquet", "summary.csv", "caseload.gpkg", "map.png")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("RAHAT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def registry_frame(tmp_path_factory) -> pd.DataFrame:
    """A small demo registry as a flat table, with invalid rows and moved households."""
    from rahat.geo.registry.synth import write_demo
    from rahat.geo.registry.validate import read_registry

    folder = tmp_path_factory.mktemp("registry")
    write_demo(4000, 2022, folder)
    frame = read_registry(folder / "registry.parquet").registry.frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object)
    assert frame["district"].nunique() > 1
    bad = frame.index[:N_REJECTED]
    frame.loc[bad[:N_BAD_PMT], "pmt_score"] = 150.0
    frame.loc[bad[N_BAD_PMT : N_BAD_PMT + N_BAD_LON], "lon"] = 500.0
    frame.loc[bad[N_BAD_PMT + N_BAD_LON :], "household_size"] = 0
    # valid households recorded in another district of their province: their admin columns
    # are copied from a household of that district, so the record itself is consistent
    admin = [c for c in ("district", "tehsil", "district_pcode", "tehsil_pcode") if c in frame]
    moved = 0
    for i in frame.index[N_REJECTED:]:
        same_province = frame["province"] == frame.loc[i, "province"]
        other = frame.index[same_province & (frame["district"] != frame.loc[i, "district"])]
        if len(other) == 0:
            continue
        frame.loc[i, admin] = frame.loc[other[0], admin].to_numpy()
        moved += 1
        if moved == N_MOVED:
            break
    assert moved == N_MOVED
    frame["notes"] = "an extra column"  # ignored by the reader, with a warning
    return frame


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    """The anticipatory scenario with a budget that binds (its hazard files warn on read)."""
    source = scenarios_dir() / "anticipatory_mom_2022.yaml"
    text = source.read_text(encoding="utf-8")
    text = text.replace("budget: {total: 500000000}", "budget: {total: 3000000}")
    text = text.replace("path: data/", f"path: {source.resolve().parent.parent}/data/")
    path = tmp_path_factory.mktemp("scenario") / "anticipatory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(frame: pd.DataFrame, scenario: Path, folder: Path) -> RunResult:
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "registry.csv"
    frame.to_csv(csv, index=False)
    return run_scenario(
        load_scenario(scenario), registry_path=csv, out_dir=folder / "out", formats=ALL_FORMATS
    )


@pytest.fixture(scope="module")
def result(registry_frame, scenario_file, tmp_path_factory) -> RunResult:
    return _run(registry_frame, scenario_file, tmp_path_factory.mktemp("run"))


def _manifest(result: RunResult) -> dict:
    return json.loads(result.outputs["manifest"].read_text(encoding="utf-8"))


# ------------------------------------------------------------------ item 1: rejected rows


def test_rejected_rows_are_written_counted_and_recorded(result, registry_frame) -> None:
    rejects_path = result.outputs["rejects"]
    assert rejects_path == result.outputs["manifest"].parent / REJECTS_FILE
    rejects = pd.read_csv(rejects_path)
    assert len(rejects) == N_REJECTED
    assert rejects["row"].tolist() == list(range(N_REJECTED))
    assert rejects["reason"].str.contains("pmt_score").sum() == N_BAD_PMT
    assert rejects["reason"].str.contains("lon").sum() == N_BAD_LON
    assert rejects["reason"].str.contains("household_size").sum() == N_BAD_SIZE

    assert result.registry_rejected == N_REJECTED
    assert result.totals["registry_rejected"] == N_REJECTED
    assert result.caseload.totals["registry_households"] == len(registry_frame) - N_REJECTED
    assert sum(result.rejected_reasons.values()) >= N_REJECTED
    manifest = _manifest(result)
    assert manifest["registry"]["rejected_rows"] == N_REJECTED
    assert manifest["registry"]["households"] == len(registry_frame) - N_REJECTED


# ------------------------------------------------------------------ item 9: reader warnings


def test_reader_warnings_reach_the_result_and_the_manifest(result) -> None:
    warnings = result.warnings
    # the MoM watershed files have invalid polygons that the reader repairs
    assert any(w.startswith("warning: repaired") for w in warnings), warnings
    assert any(w.startswith("watch: repaired") for w in warnings), warnings
    assert "registry: ignored columns notes" in warnings
    assert _manifest(result)["warnings"] == warnings
    assert list(result.caseload.warnings) == warnings


# ------------------------------------------------------------------ item 15: manifest


def test_manifest_hashes_every_output_and_counts_mismatches(result) -> None:
    manifest = _manifest(result)
    hashed = manifest["outputs"]
    assert set(hashed) == set(result.outputs) - {"manifest"}
    assert {"map", "gpkg", "rejects"} <= set(hashed)
    for name, entry in hashed.items():
        path = result.outputs[name]
        assert entry["file"] == path.name
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name
    assert result.location_mismatches == N_MOVED
    assert manifest["registry"]["location_mismatches"] == N_MOVED
    assert result.totals["location_mismatches"] == N_MOVED


# ------------------------------------------------------------------ item 13: row order


def test_outputs_do_not_depend_on_registry_row_order(
    result, registry_frame, scenario_file, tmp_path
) -> None:
    assert result.caseload.totals["cut"]["cut_by_quota"] > 0  # the fill and the quotas matter
    shuffled = registry_frame.sample(frac=1.0, random_state=np.random.RandomState(7))
    assert not shuffled.index.equals(registry_frame.index)
    other = _run(shuffled, scenario_file, tmp_path)
    assert other.registry_rejected == N_REJECTED
    for name in ORDER_FREE:
        a = result.outputs["manifest"].parent / name
        b = other.outputs["manifest"].parent / name
        assert a.read_bytes() == b.read_bytes(), name
