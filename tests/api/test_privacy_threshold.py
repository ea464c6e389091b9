"""The k-anonymity threshold at its edge: a count of exactly k is shown, one of k - 1 is not.

Each place that publishes counts under the threshold is checked on both sides of it: the run
summary (a unit's counts and the differences of consecutive counts), the comparison of two
runs, and the added / dropped / kept changes of a what-if. (The guard's edge, sets exactly k
households apart, is in ``test_guard.py``.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rahat.api.service import whatif
from rahat.api.service.aggregates import summary
from rahat.api.service.comparison import compare_runs

K = 10


def write_caseload(run_dir: Path, units: list[tuple[str, str, list[int], int, int]]) -> Path:
    """Write a run folder whose caseload has, per unit, the given households.

    ``units`` holds ``(district, tehsil, ids, eligible, selected)``: the unit's household ids,
    and how many of them (the first ones) are eligible and selected. One province, ``P``.
    """
    columns: dict[str, list] = {
        name: [] for name in ("household_id", "district", "tehsil", "eligible", "selected")
    }
    for district, tehsil, ids, eligible, selected in units:
        positions = np.arange(len(ids))
        columns["household_id"] += list(ids)
        columns["district"] += [district] * len(ids)
        columns["tehsil"] += [tehsil] * len(ids)
        columns["eligible"] += list(positions < eligible)
        columns["selected"] += list(positions < selected)
    n = len(columns["household_id"])
    selected = np.array(columns["selected"], bool)
    table = pa.table(
        {
            "household_id": pa.array(columns["household_id"], pa.int64()),
            "province": pa.array(["P"] * n),
            "district": pa.array(columns["district"]),
            "tehsil": pa.array(columns["tehsil"]),
            "eligible": pa.array(columns["eligible"], pa.bool_()),
            "selected": pa.array(selected),
            "exposed": pa.array(np.ones(n, bool)),
            "household_size": pa.array(np.full(n, 5), pa.int64()),
            "benefit": pa.array(np.full(n, 25_000.0)),
            "amount": pa.array(np.where(selected, 25_000, 0), pa.int64()),
        }
    )
    run_dir.mkdir(parents=True)
    pq.write_table(table, run_dir / "caseload.parquet")
    return run_dir


def ids(start: int, count: int) -> list[int]:
    return list(range(start, start + count))


def test_a_unit_of_exactly_k_households_is_shown_and_one_of_k_minus_1_is_not(
    tmp_path: Path,
) -> None:
    run_dir = write_caseload(
        tmp_path / "run",
        [
            ("D1", "exactly-k", ids(0, K), K, K),
            ("D1", "differences-k", ids(1_000, 3 * K), 2 * K, K),
            ("D2", "k-minus-1", ids(2_000, K - 1), K - 1, K - 1),
            ("D2", "difference-k-minus-1", ids(3_000, 3 * K), 2 * K, K + 1),
            ("D2", "large", ids(4_000, 4 * K), 4 * K, 4 * K),
            # Keeps D2 itself clear: its eligible but not selected households are 2k - 1.
            ("D2", "larger", ids(5_000, 5 * K), 5 * K, 4 * K),
        ],
    )
    units = {u["tehsil"]: u for u in summary(run_dir, "tehsil", K)["units"]}
    counts = ("households", "eligible", "selected")
    # k households, and counts whose differences are exactly k: every figure is shown.
    assert not units["exactly-k"]["suppressed"]
    assert [units["exactly-k"][c] for c in counts] == [K, K, K]
    assert not units["differences-k"]["suppressed"]
    assert [units["differences-k"][c] for c in counts] == [3 * K, 2 * K, K]
    # k - 1 households, or eligible but not selected households: the whole row is blanked.
    for name in ("k-minus-1", "difference-k-minus-1"):
        assert units[name]["suppressed"], name
        assert all(units[name][c] is None for c in counts), name
    # The two blanked rows of D2 hide each other: no complement is needed there.
    assert not units["large"]["suppressed"] and not units["larger"]["suppressed"]


def test_a_comparison_shows_exactly_k_added_households_and_hides_k_minus_1(
    tmp_path: Path,
) -> None:
    base = [("D1", "t1", ids(0, 3 * K)), ("D2", "t2", ids(1_000, 3 * K))]
    base.append(("D3", "t3", ids(2_000, 2 * K)))  # the smallest: the complement of D2
    run_a = write_caseload(tmp_path / "a", [(d, t, h, len(h), len(h)) for d, t, h in base])
    added = {"D1": ids(10_000, K), "D2": ids(20_000, K - 1), "D3": []}
    run_b = write_caseload(
        tmp_path / "b",
        [(d, t, h + added[d], len(h) + len(added[d]), len(h) + len(added[d])) for d, t, h in base],
    )
    units = {u["district"]: u for u in compare_runs(run_a, run_b, "district", K)["units"]}
    assert (units["D1"]["added"], units["D1"]["dropped"], units["D1"]["kept"]) == (K, 0, 3 * K)
    assert units["D2"]["added"] is None and units["D2"]["kept"] is None
    assert units["D3"]["added"] is None  # complementary suppression of D2
    # Each run's own selected counts are shown (none is below k).
    assert units["D2"]["selected_a"] == 3 * K and units["D2"]["selected_b"] == 4 * K - 1
    # Without a threshold every figure is there.
    admin = {u["district"]: u for u in compare_runs(run_a, run_b, "district", None)["units"]}
    assert admin["D2"]["added"] == K - 1


def test_what_if_changes_show_exactly_k_and_hide_k_minus_1() -> None:
    shown = whatif.changes({"added": K, "dropped": K, "kept": 0}, K)
    assert shown == {"added": K, "dropped": K, "kept": 0, "suppressed": False}
    for small in ({"added": K - 1, "dropped": K, "kept": K}, {"added": K, "dropped": 1, "kept": K}):
        hidden = whatif.changes(small, K)
        assert hidden == {"added": None, "dropped": None, "kept": None, "suppressed": True}
    assert whatif.changes({"added": K - 1, "dropped": 0, "kept": 0}, None)["added"] == K - 1
