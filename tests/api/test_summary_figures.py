"""The sums of a run summary: persons and benefit of the selected households only."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rahat.api.service.aggregates import compute_aggregates, summary


def write(run_dir: Path, columns: dict[str, pa.Array]) -> Path:
    run_dir.mkdir(parents=True)
    pq.write_table(pa.table(columns), run_dir / "caseload.parquet")
    return run_dir


def test_persons_and_benefit_count_the_selected_households(tmp_path: Path) -> None:
    run_dir = write(
        tmp_path / "run",
        {
            "household_id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "province": pa.array(["P"] * 5),
            "district": pa.array(["A", "A", "B", "B", "B"]),
            "eligible": pa.array([True, True, True, True, False]),
            "selected": pa.array([True, True, True, False, None]),
            "household_size": pa.array([3, 4, None, 6, 9], pa.int64()),
            "benefit": pa.array([100.0, None, 25.0, 50.0, 75.0]),
        },
    )
    totals = compute_aggregates(run_dir / "caseload.parquet")["totals"]
    # Unselected households (4, and 5 whose selection is missing) add nothing; a missing
    # size or benefit adds 0.
    assert totals == {
        "households": 5,
        "eligible": 4,
        "selected": 3,
        "persons_selected": 7,
        "benefit": 125.0,
    }
    units = {u["district"]: u for u in summary(run_dir, "district", None)["units"]}
    assert (units["A"]["persons_selected"], units["A"]["benefit"]) == (7, 100.0)
    assert (units["B"]["persons_selected"], units["B"]["benefit"]) == (0, 25.0)


def test_a_caseload_without_sizes_or_benefits_sums_to_zero(tmp_path: Path) -> None:
    run_dir = write(
        tmp_path / "run",
        {
            "household_id": pa.array([1, 2], pa.int64()),
            "province": pa.array(["P", "P"]),
            "selected": pa.array([True, True]),
        },
    )
    totals = compute_aggregates(run_dir / "caseload.parquet")["totals"]
    assert totals == {
        "households": 2,
        "eligible": 0,
        "selected": 2,
        "persons_selected": 0,
        "benefit": 0.0,
    }
