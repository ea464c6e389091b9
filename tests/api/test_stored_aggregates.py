"""Stored aggregates (issue 12, item 6): summaries and comparisons never read the caseload.

A finished run stores its unsuppressed figures of every level (``aggregates.json``) and a
comparison index (``compare_index.npz``) at job end; ``/summary`` and ``/compare`` answer
from them, exactly as they answered from the caseload, with suppression applied per caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Service, make_settings, queued_run_jobs, start_service

from rahat.api.service import aggregates, comparison
from rahat.api.service.aggregates import AGGREGATES_FILE, LEVELS, compute_aggregates
from rahat.api.service.comparison import (
    COMPARE_COLUMNS,
    INDEX_FILE,
    build_index,
    compare_indexes,
    load_index,
)
from rahat.engine.targeting import compare_caseloads

K = 10


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service (SQLite) with the conftest runs."""
    yield from start_service(make_settings(tmp_path_factory.mktemp("stored")))


def _run_dir(service: Service, run_id: str) -> Path:
    return Path(service.app.state.settings.runs_dir) / run_id


def _reference(dir_a: Path, dir_b: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The comparison as computed before: both caseloads read and compared by the engine."""
    frames = [
        pd.read_parquet(d / "caseload.parquet", columns=COMPARE_COLUMNS) for d in (dir_a, dir_b)
    ]
    result = compare_caseloads(*frames)
    return result.by_district, result.totals


def _random_caseload(seed: int, n: int, id_offset: int, district_shift: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    district = (rng.integers(0, 9, n) + district_shift) % 9
    province = np.array(["Sindh", "Punjab", "KP"])[district % 3]
    return pa.table(
        {
            "household_id": pa.array(rng.permutation(n).astype(np.int64) + id_offset),
            "province": pa.array(province).dictionary_encode(),
            "district": pa.array([f"D{d}" for d in district]).dictionary_encode(),
            "selected": pa.array(rng.random(n) < 0.5),
            "exposed": pa.array(rng.random(n) < 0.7),
            "amount": pa.array(rng.integers(0, 3, n).astype(np.int64) * 1000),
        }
    )


@pytest.mark.parametrize("seed", range(6))
def test_index_comparison_equals_the_engine(tmp_path: Path, seed: int) -> None:
    """Indexes compare exactly as the caseloads do, also across registries that differ."""
    rng = np.random.default_rng(100 + seed)
    dirs = []
    for side in ("a", "b"):
        folder = tmp_path / side
        folder.mkdir()
        table = _random_caseload(
            seed * 2 + (side == "b"),
            int(rng.integers(0, 400)) if seed == 0 else int(rng.integers(50, 400)),
            id_offset=int(rng.integers(0, 100)) if side == "b" else 0,
            district_shift=seed % 2 if side == "b" else 0,
        )
        pq.write_table(table, folder / "caseload.parquet")
        dirs.append(folder)
    table, totals = compare_indexes(build_index(dirs[0] / "caseload.parquet"), load_index(dirs[1]))
    expected, expected_totals = _reference(*dirs)
    columns = ["province", "district", "a_households", "b_households", "added", "dropped", "kept"]
    pd.testing.assert_frame_equal(
        table[columns].reset_index(drop=True),
        expected[columns].reset_index(drop=True),
        check_dtype=False,
    )
    assert totals == {key: expected_totals[key] for key in totals}


def test_job_end_stores_aggregates_and_index(tmp_path: Path) -> None:
    """A succeeded run's folder holds its figures of every level and its comparison index."""
    settings = make_settings(tmp_path)
    with queued_run_jobs(settings, "planners", "planner") as (jobs, _, run_id):
        jobs.submit(run_id)
        jobs.wait(run_id, timeout=60)
    run_dir = settings.runs_dir / run_id
    caseload = run_dir / "caseload.parquet"
    stored = json.loads((run_dir / AGGREGATES_FILE).read_text())
    computed = compute_aggregates(caseload)
    assert stored["totals"] == computed["totals"]
    for level in LEVELS:
        assert stored["levels"][level] == computed["levels"][level], level
    expected = build_index(caseload)
    with np.load(run_dir / INDEX_FILE, allow_pickle=False) as index:
        for name in ("ids", "unit", "selected", "selected_unit", "provinces", "districts"):
            np.testing.assert_array_equal(index[name], getattr(expected, name))


def _forget() -> None:
    """Empty the in-process caches, so that the next answers come from the files."""
    comparison._INDEX_CACHE.clear()
    aggregates._CACHE.clear()
    aggregates._VIEWS.clear()


def _answers(live: Service) -> dict[str, bytes]:
    out = {}
    for who in ("admin", "agency"):
        for level in LEVELS:
            r = live.get(who, f"/runs/{live.run_id}/summary", params={"level": level})
            assert r.status_code == 200, r.text
            out[f"{who} summary {level}"] = r.content
        for level in ("province", "district"):
            body = {"run_a": live.run_id, "run_b": live.other_run_id, "level": level}
            r = live.post(who, "/runs/compare", json=body)
            assert r.status_code == 200, r.text
            out[f"{who} compare {level}"] = r.content
        r = live.get(who, "/runs")
        assert r.status_code == 200
        out[f"{who} list"] = r.content
    return out


def test_answers_read_no_caseload_and_equal_the_old_ones(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte-identical answers: from the caseloads (the old path), then from stored files only."""
    _forget()
    for run_id in (live.run_id, live.other_run_id):
        for name in (AGGREGATES_FILE, INDEX_FILE):
            (_run_dir(live, run_id) / name).unlink(missing_ok=True)
    with monkeypatch.context() as patch:
        patch.setattr(
            comparison,
            "load_index",
            lambda run_dir: run_dir,  # the old path: compare the caseloads themselves
        )
        patch.setattr(comparison, "compare_indexes", _reference)
        before = _answers(live)
    for run_id in (live.run_id, live.other_run_id):  # an older run gets its files on first use
        load_index(_run_dir(live, run_id))
        assert (_run_dir(live, run_id) / INDEX_FILE).is_file()
        assert (_run_dir(live, run_id) / AGGREGATES_FILE).is_file()
    _forget()

    def no_caseload(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the caseload was read: {args!r}")

    monkeypatch.setattr(pq, "read_table", no_caseload)
    monkeypatch.setattr(pd, "read_parquet", no_caseload)
    after = _answers(live)
    assert after == before
