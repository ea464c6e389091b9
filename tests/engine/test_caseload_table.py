"""The caseload's Arrow table is built column by column and equals the frame's conversion.

The writers take :attr:`Caseload.table` without building the pandas frame (a national caseload
of 11 M rows costs seconds and gigabytes as a frame); the files stay byte for byte those of the
frame's conversion because the table equals ``pa.Table.from_pandas(frame)``, schema metadata
(pandas dtypes: nullable ``rank``, categoricals) included.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import evaluate, load_scenario, write_outputs

SCENARIOS = {
    "budget": {"budget": {"max_households": 150}, "quotas": None},
    "quotas": {
        "budget": {"max_households": 150},
        "quotas": {"level": "district", "mode": "proportional"},
    },
    "nobody": {
        "budget": {"max_households": 150},
        "eligibility": {**BENCH_SCENARIO["eligibility"], "pmt_cutoff": 0},
    },
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_table_equals_the_conversion_of_the_frame(name: str) -> None:
    exposure = synthetic_exposure(2_000, seed=11)
    caseload = evaluate(load_scenario({**BENCH_SCENARIO, **SCENARIOS[name]}), exposure)
    table = caseload.table
    assert caseload._frame is None  # the table needs no frame
    expected = pa.Table.from_pandas(caseload.frame, preserve_index=False)
    assert table.schema.equals(expected.schema, check_metadata=True)
    assert table.equals(expected, check_metadata=True)
    assert table.schema.field("rank").nullable and table["rank"].null_count == (
        len(table) - caseload.totals["eligible"]
    )


def test_writers_build_no_frame(tmp_path: Path) -> None:
    exposure = synthetic_exposure(2_000, seed=12)
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 90}})
    caseload = evaluate(scenario, exposure)
    write_outputs(caseload, tmp_path / "sliced", formats=("parquet", "gpkg", "summary", "map"))
    assert caseload._columns is None and caseload._table is None  # slice by slice only
    write_outputs(
        caseload, tmp_path / "out", formats=("parquet", "csv", "gpkg", "summary", "map", "manifest")
    )
    assert caseload._frame is None
    assert (tmp_path / "out" / "caseload.parquet").stat().st_size > 0


@pytest.mark.parametrize("built", ["nothing", "columns", "table"])
def test_selected_table_equals_the_selected_rows_of_the_table(built: str) -> None:
    exposure = synthetic_exposure(2_000, seed=13)
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 120}})
    reference = evaluate(scenario, exposure).table
    caseload = evaluate(scenario, exposure)
    if built == "columns":
        caseload.columns  # noqa: B018 - built before the selected rows are asked for
    elif built == "table":
        caseload.table  # noqa: B018
    selected = caseload.selected_table
    expected = reference.filter(reference["selected"])
    assert selected.num_rows == 120
    assert selected.equals(expected, check_metadata=True)


@pytest.mark.parametrize("selected_only", [False, True])
@pytest.mark.parametrize("rows_per_batch", [1, 7, 100_000])
def test_slices_put_together_are_the_table(selected_only: bool, rows_per_batch: int) -> None:
    exposure = synthetic_exposure(1_500, seed=14)
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 60}})
    table = evaluate(scenario, exposure).table
    if selected_only:
        table = table.filter(table["selected"])
    caseload = evaluate(scenario, exposure)
    slices = list(caseload.batches(selected_only=selected_only, rows_per_batch=rows_per_batch))
    assert all(len(part) <= rows_per_batch for part in slices)
    assert len(slices) == max(1, -(-table.num_rows // rows_per_batch))
    assert pa.concat_tables(slices).equals(table, check_metadata=True)


def test_the_parquet_written_by_slices_is_the_parquet_of_the_table(
    tmp_path: Path, monkeypatch
) -> None:
    import pyarrow.parquet as pq

    from rahat.engine.targeting import outputs

    exposure = synthetic_exposure(1_500, seed=15)
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 60}})
    caseload = evaluate(scenario, exposure)
    monkeypatch.setattr(outputs, "BATCH_ROWS", 100)
    outputs._parquet(caseload.batches(rows_per_batch=100), tmp_path / "sliced.parquet")
    whole = evaluate(scenario, exposure).table
    pq.write_table(whole, tmp_path / "whole.parquet", row_group_size=100, **outputs.PARQUET_OPTIONS)
    sliced = (tmp_path / "sliced.parquet").read_bytes()
    groups = pq.ParquetFile(tmp_path / "sliced.parquet").metadata.num_row_groups
    assert groups == -(-len(caseload) // 100)
    assert sliced == (tmp_path / "whole.parquet").read_bytes()
