"""Issue 9, finding 3: suppressed cells do not come back by subtraction or linear algebra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from privacy_attacks import (
    UNIT_KEYS,
    compare_cells,
    lp_bounds,
    random_runs,
    recovered,
    subtraction_attack,
    summary_cells,
)

from rahat.api.service import aggregates, comparison, suppression
from rahat.api.service.aggregates import summary
from rahat.api.service.suppression import complete_suppression, row_is_sensitive

K = 10


def write_run(root: Path, frame: pd.DataFrame, tag: str) -> Path:
    """Write run ``tag`` of ``frame`` (its considered households) as a run folder."""
    rows = frame[frame[f"considered_{tag}"]]
    selected = rows[f"selected_{tag}"].to_numpy()
    table = pa.table(
        {
            "household_id": pa.array(rows.index.to_numpy() + 1, pa.int64()),
            **{k: pa.array(rows[k].to_numpy(), pa.string()) for k in UNIT_KEYS["tehsil"]},
            "eligible": pa.array(rows[f"eligible_{tag}"].to_numpy()),
            "selected": pa.array(selected),
            "exposed": pa.array(np.ones(len(rows), bool)),
            "household_size": pa.array(np.full(len(rows), 5), pa.int64()),
            "benefit": pa.array(np.full(len(rows), 25_000.0)),
            "amount": pa.array(np.where(selected, 25_000, 0), pa.int64()),
        }
    )
    run_dir = root / f"run_{tag}"
    run_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, run_dir / "caseload.parquet")
    return run_dir


def views(run_dir: Path, k: int | None) -> dict[str, dict]:
    return {level: summary(run_dir, level, k) for level in ("province", "district", "tehsil")}


def shown_counts(view: dict[str, dict]) -> list[int]:
    rows = [view["province"]["totals"]] + [u for body in view.values() for u in body["units"]]
    out = []
    for row in rows:
        values = [row[c] for c in ("households", "eligible", "selected")]
        if all(v is not None for v in values):
            out += [*values, values[0] - values[1], values[1] - values[2]]
        else:
            assert all(v is None for v in values) and row["suppressed"]
            assert row["persons_selected"] is None and row["benefit"] is None
    return out


def test_complete_suppression_rules() -> None:
    # nation(0) -> P(1), Q(2); P -> a(3), b(4), c(5); Q -> d(6)
    parent = [-1, 0, 0, 1, 1, 1, 2]
    size = [300, 200, 100, 3, 50, 147, 100]
    only_a = complete_suppression(parent, size, [False, False, False, True, False, False, False])
    assert list(np.flatnonzero(only_a)) == [3, 4]  # the smallest sibling complements
    only_d = complete_suppression(parent, size, [False] * 6 + [True])
    assert list(np.flatnonzero(only_d)) == [1, 2, 3, 6]  # only child: parent, then upwards
    only_p = complete_suppression(parent, size, [False, True, False, False, False, False, False])
    assert list(np.flatnonzero(only_p)) == [1, 2, 3, 6]  # a blanked parent needs a child too
    assert not complete_suppression(parent, size, [False] * 7).any()


def test_row_sensitivity_covers_differences() -> None:
    counts = ("households", "eligible", "selected")
    assert row_is_sensitive({"households": 5, "eligible": 0, "selected": 0}, counts, K)
    assert row_is_sensitive({"households": 50, "eligible": 47, "selected": 20}, counts, K)
    assert row_is_sensitive({"households": 50, "eligible": 20, "selected": 19}, counts, K)
    assert not row_is_sensitive({"households": 50, "eligible": 20, "selected": 0}, counts, K)
    assert not row_is_sensitive({"households": 50, "eligible": 40, "selected": 30}, counts, K)


@pytest.mark.parametrize("seed", range(4))
def test_no_small_cell_of_a_run_is_recovered(tmp_path: Path, seed: int) -> None:
    frame = random_runs(seed, n_runs=1)
    run_dir = write_run(tmp_path, frame, "a")
    view = views(run_dir, K)
    assert all(v == 0 or v >= K for v in shown_counts(view))
    assert subtraction_attack(view) == []
    results = lp_bounds(frame, summary_cells(view, "a"), K)
    assert any(0 < true < K for *_, true in results), "the fixture must have small cells"
    assert recovered(results, K) == []
    # Admins see every figure, and the suppressed view agrees with them where it shows one.
    full = views(run_dir, None)
    for level in full:
        for shown, raw in zip(view[level]["units"], full[level]["units"], strict=True):
            assert shown["suppressed"] or shown == raw


@pytest.mark.parametrize("seed", range(3))
def test_no_small_cell_is_recovered_across_runs_and_their_comparison(
    tmp_path: Path, seed: int
) -> None:
    frame = random_runs(100 + seed, n_runs=2)
    run_a, run_b = write_run(tmp_path, frame, "a"), write_run(tmp_path, frame, "b")
    cells = summary_cells(views(run_a, K), "a") + summary_cells(views(run_b, K), "b")
    for level in ("province", "district"):
        body = comparison.compare_runs(run_a, run_b, level, K)
        for unit in [body["overlap"], *body["units"]]:
            assert all(
                v is None or v == 0 or v >= K
                for name, v in unit.items()
                if isinstance(v, int) and name != "change"  # a net change counts nobody
            )
        for unit in body["units"]:
            assert (unit["change"] is None) == (
                unit["selected_a"] is None or unit["selected_b"] is None
            )
        cells += compare_cells(body)
    results = lp_bounds(frame, cells, K)
    assert recovered(results, K) == []


def test_summary_and_comparison_blank_the_same_selected_cells(tmp_path: Path) -> None:
    frame = random_runs(7, n_runs=2)
    run_a, run_b = write_run(tmp_path, frame, "a"), write_run(tmp_path, frame, "b")
    body = comparison.compare_runs(run_a, run_b, "district", K)
    shown = {
        (u["province"], u["district"]): u["selected"]
        for u in summary(run_a, "district", K)["units"]
    }
    for unit in body["units"]:
        assert unit["selected_a"] == shown.get((unit["province"], unit["district"]), 0)


def test_primary_suppression_alone_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the complementary step the same attacks recover small cells (the test can fail)."""
    monkeypatch.setattr(
        aggregates, "complete_suppression", lambda parent, size, primary: np.array(list(primary))
    )
    frame = random_runs(0, n_runs=1)
    view = views(write_run(tmp_path, frame, "a"), K)
    assert subtraction_attack(view)
    assert recovered(lp_bounds(frame, summary_cells(view, "a"), K), K)
    assert suppression.complete_suppression is not aggregates.complete_suppression
