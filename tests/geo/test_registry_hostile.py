"""Hostile registry files: ids beyond 64 bits, unreadable column types, no households."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rahat.geo.errors import EmptyDataError, SchemaError
from rahat.geo.paths import reference_data_dir
from rahat.geo.registry.validate import read_registry, validate_table

TOO_LARGE = "household_id: too large (beyond the 64-bit integer range)"


def _sample() -> pd.DataFrame:
    """The bundled 40-row sample registry, every column as text."""
    return pd.read_csv(reference_data_dir() / "samples" / "registry_sample.csv", dtype=str)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_household_id_2_to_the_64_in_a_csv_is_one_rejected_row(tmp_path: Path) -> None:
    frame = _sample()
    frame.loc[0, "household_id"] = str(2**64)
    report = read_registry(_csv(frame, tmp_path / "big.csv"), rejects_path=tmp_path / "r.csv")
    rejects = pd.read_csv(tmp_path / "r.csv", dtype=str)
    row = rejects[rejects["row"] == "0"]
    assert row["household_id"].tolist() == [str(2**64)]
    assert row["reason"].tolist() == [TOO_LARGE]
    assert report.reason_counts[TOO_LARGE] == 1
    assert report.total_rows == 40 and report.n_valid + report.n_rejected == 40


def test_integer_text_at_the_int64_limits() -> None:
    cases = {
        str(2**63 - 1): None,  # the largest int64: kept, exactly
        "000000000000000000000042": None,  # leading zeros: 24 digits, value 42
        str(2**63): TOO_LARGE,
        "-" + str(2**63): "household_id: below 1",  # the smallest int64: in range, too small
        "-" + str(2**63 + 1): TOO_LARGE,
        "9" * 40: TOO_LARGE,
        "1e30": TOO_LARGE,
    }
    rows = [0, 1, 2, 4, 5, 6, 8]  # rows the sample has no other problem with
    frame = _sample()
    frame.loc[rows, "household_id"] = list(cases)
    report = validate_table(pa.Table.from_pandas(frame, preserve_index=False))
    reasons = report.rejects.set_index("row")["reason"].to_dict()
    assert [reasons.get(row) for row in rows] == list(cases.values())
    assert {2**63 - 1, 42} <= set(report.registry.frame["household_id"].tolist())


def test_uint64_parquet_ids_beyond_int64_are_rejected_rows(tmp_path: Path) -> None:
    frame = _sample()
    table = pa.Table.from_pandas(frame.drop(columns="household_id"), preserve_index=False)
    ids = [2**64 - 1, 2**63, *range(1, 39)]
    table = table.append_column("household_id", pa.array(ids, type=pa.uint64()))
    pq.write_table(table, tmp_path / "u64.parquet")
    report = read_registry(tmp_path / "u64.parquet")
    reasons = report.rejects.set_index("row")["reason"].to_dict()
    assert reasons[0] == TOO_LARGE and reasons[1] == TOO_LARGE
    assert report.rejects.set_index("row").loc[0, "household_id"] == str(2**64 - 1)


def test_a_column_of_an_unusable_type_is_a_schema_error(tmp_path: Path) -> None:
    frame = _sample()
    table = pa.Table.from_pandas(frame.drop(columns="province"), preserve_index=False)
    nested = pa.array([[1, 2]] * len(frame), type=pa.list_(pa.int64()))
    pq.write_table(table.append_column("province", nested), tmp_path / "nested.parquet")
    with pytest.raises(SchemaError, match=r"column province holds list<.*> values"):
        read_registry(tmp_path / "nested.parquet")


def test_header_only_registry_holds_no_households(tmp_path: Path) -> None:
    report = read_registry(_csv(_sample().head(0), tmp_path / "header.csv"))
    assert report.empty_reason() == "the registry holds no households (the file has no rows)"
    with pytest.raises(EmptyDataError, match="holds no households"):
        report.require_households()


def test_every_row_rejected_holds_no_households(tmp_path: Path) -> None:
    frame = _sample()
    frame["pmt_score"] = "250"
    report = read_registry(_csv(frame, tmp_path / "all_bad.csv"))
    assert report.empty_reason() is not None
    assert report.empty_reason().startswith("all 40 rows were rejected")
    with pytest.raises(EmptyDataError, match="all 40 rows were rejected"):
        report.require_households()
