"""Registry readers, writer and loss-free validation."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from rahat.geo.errors import SchemaError, UnreadableFileError
from rahat.geo.registry.io import read_table, write_registry
from rahat.geo.registry.schema import REQUIRED_COLUMNS
from rahat.geo.registry.validate import read_registry


def valid_rows(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "household_id": np.arange(1, n + 1, dtype=np.int64) * 7919,
            # inside Dadu and Badin, the districts the rows record
            "lon": np.tile([67.5276, 68.8410], n // 2) + rng.uniform(-0.01, 0.01, n),
            "lat": np.tile([26.7514, 24.7707], n // 2) + rng.uniform(-0.01, 0.01, n),
            "province": ["Sindh"] * n,
            "district": ["Dadu", "Badin"] * (n // 2),
            "tehsil": ["Johi", None] * (n // 2),
            "pmt_score": rng.uniform(0, 100, n).round(2),
            "household_size": [6, 7] * (n // 2),
            "children_under5": [1, 2] * (n // 2),
            "elderly": [0, 1] * (n // 2),
            "disabled": [0, 0] * (n // 2),
            "female_headed": [False, True] * (n // 2),
            "dwelling": ["kacha", "pakka"] * (n // 2),
            "livelihood": ["crop_farming", "fishing"] * (n // 2),
            "last_updated": ["2020-05-01", "2021-01-15"] * (n // 2),
            "programmes": ["bisp_kafaalat", ""] * (n // 2),
        }
    )


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def read_with_bad_row(tmp_path: Path, **changes: object) -> Any:
    """Read :func:`valid_rows` with row 2 changed (rejects to ``tmp_path/rejects.csv``).

    Asserts that every row is either valid or rejected, then returns the read report.
    """
    frame = valid_rows().astype(object)
    for column, value in changes.items():
        frame.loc[2, column] = value
    rejects_path = tmp_path / "rejects.csv"
    report = read_registry(write_csv(frame, tmp_path / "r.csv"), rejects_path=rejects_path)
    assert report.n_valid + report.n_rejected == report.total_rows == 6
    return report


def test_csv_roundtrip_through_geoparquet(tmp_path: Path) -> None:
    report = read_registry(write_csv(valid_rows(), tmp_path / "r.csv"))
    assert report.n_rejected == 0 and report.n_valid == 6
    frame = report.registry.frame
    assert frame["pmt_score"].dtype == np.float32
    assert frame["household_size"].dtype == np.int16
    assert isinstance(frame["dwelling"].dtype, pd.CategoricalDtype)
    assert list(frame["dwelling"].cat.categories) == ["kacha", "semi_pakka", "pakka"]
    out = write_registry(frame, tmp_path / "r.parquet")
    again = read_registry(out).registry.frame
    pd.testing.assert_frame_equal(again, frame)
    # The GeoParquet is readable by geopandas as points in WGS 84.
    gdf = gpd.read_parquet(out)
    assert gdf.crs is not None and gdf.crs.to_epsg() in (4326, None)
    np.testing.assert_array_equal(gdf.geometry.x.to_numpy(), frame["lon"].to_numpy())


@pytest.mark.parametrize("fmt", ["parquet", "feather", "wkb-geoparquet"])
def test_other_formats_read_identically(tmp_path: Path, fmt: str) -> None:
    frame = read_registry(write_csv(valid_rows(), tmp_path / "r.csv")).registry.frame
    path = tmp_path / f"r.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "feather":
        frame.to_feather(path)
    else:
        points = gpd.points_from_xy(frame["lon"], frame["lat"])
        gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points, crs=4326).to_parquet(
            path
        )
    pd.testing.assert_frame_equal(read_registry(path).registry.frame, frame)


def test_write_is_atomic(tmp_path: Path) -> None:
    frame = read_registry(write_csv(valid_rows(), tmp_path / "r.csv")).registry.frame
    target = tmp_path / "out.parquet"
    broken = frame.assign(lon=["not a number"] * len(frame))
    with pytest.raises(Exception):  # noqa: B017 - any failure must leave nothing behind
        write_registry(broken, target)
    assert not target.exists()
    assert list(tmp_path.glob(".out.parquet*")) == []


BAD_ROWS = {
    "missing lon": ({"lon": np.nan}, "lon: missing or not a number"),
    "lat out of range": ({"lat": 95.0}, "lat: outside -90..90"),
    "pmt above 100": ({"pmt_score": 120.0}, "pmt_score: outside 0..100"),
    "pmt negative": ({"pmt_score": -1.0}, "pmt_score: outside 0..100"),
    "pmt not a number": ({"pmt_score": "poor"}, "pmt_score: missing or not a number"),
    "fractional size": ({"household_size": 6.5}, "household_size: not a whole number"),
    "zero size": ({"household_size": 0}, "household_size: outside 1..60"),
    "more children than members": ({"children_under5": 9}, "children_under5: more than"),
    "negative elderly": ({"elderly": -1}, "elderly: outside 0..60"),
    "unknown dwelling": ({"dwelling": "tent"}, "dwelling: not one of"),
    "unknown livelihood": ({"livelihood": "pirate"}, "livelihood: not one of"),
    "bad date": ({"last_updated": "31/31/2020"}, "last_updated: not a date"),
    "bad bool": ({"female_headed": "maybe"}, "female_headed: not true/false"),
    "missing district": ({"district": None}, "district: missing"),
    "negative id": ({"household_id": -5}, "household_id: below 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_rows_are_rejected_with_reason_and_nothing_is_lost(tmp_path: Path, case: str) -> None:
    changes, reason = BAD_ROWS[case]
    report = read_with_bad_row(tmp_path, **changes)
    assert report.rejects["row"].tolist() == [2]
    assert reason in report.rejects["reason"].iloc[0]
    written = pd.read_csv(tmp_path / "rejects.csv")
    assert written["row"].tolist() == [2] and reason in written["reason"].iloc[0]
    assert 2 * 7919 + 7919 not in report.registry.household_id


def test_duplicate_ids_reject_every_copy(tmp_path: Path) -> None:
    frame = valid_rows()
    frame.loc[4, "household_id"] = frame.loc[1, "household_id"]
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    assert report.rejects["row"].tolist() == [1, 4]
    assert report.reason_counts == {
        "household_id: duplicate (every row with this id is rejected)": 2
    }


def test_several_reasons_are_all_reported(tmp_path: Path) -> None:
    frame = valid_rows().astype(object)
    frame.loc[0, ["pmt_score", "dwelling"]] = [150, "tent"]
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    reason = report.rejects["reason"].iloc[0]
    assert "pmt_score" in reason and "dwelling" in reason


def test_missing_required_column_fails_whole_file(tmp_path: Path) -> None:
    path = write_csv(valid_rows().drop(columns=["pmt_score"]), tmp_path / "r.csv")
    with pytest.raises(SchemaError, match=r"missing required column.*pmt_score"):
        read_registry(path)


def test_not_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("hello,world\n1,2\n")
    with pytest.raises(SchemaError, match="no registry columns found"):
        read_registry(path)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty.parquet"),
        (b"PAR1 truncated garbage", "broken.parquet"),
        (b"ARROW1\x00\x00 not really", "broken.feather"),
        (gzip.compress(b"binary", mtime=0), "r.bin"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError):
        read_registry(path)


def test_truncated_parquet(tmp_path: Path) -> None:
    frame = read_registry(write_csv(valid_rows(), tmp_path / "r.csv")).registry.frame
    whole = write_registry(frame, tmp_path / "whole.parquet").read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableFileError, match="truncated or corrupt"):
        read_table(cut)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="cannot open"):
        read_registry(tmp_path / "nope.parquet")


def test_projected_geoparquet_is_refused(tmp_path: Path) -> None:
    frame = read_registry(write_csv(valid_rows(), tmp_path / "r.csv")).registry.frame
    points = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points).to_crs(32642)
    gdf.to_parquet(tmp_path / "utm.parquet")
    with pytest.raises(SchemaError, match="WGS 84"):
        read_registry(tmp_path / "utm.parquet")


def test_required_columns_are_the_documented_ones() -> None:
    assert "household_id" in REQUIRED_COLUMNS and "pmt_score" in REQUIRED_COLUMNS


def test_large_ids_stay_exact(tmp_path: Path) -> None:
    frame = valid_rows()
    frame["household_id"] = np.arange(2**62, 2**62 + 6, dtype=np.int64)
    csv = read_registry(write_csv(frame, tmp_path / "r.csv")).registry
    np.testing.assert_array_equal(csv.household_id, frame["household_id"].to_numpy())
    frame["last_updated"] = pd.to_datetime(frame["last_updated"])
    frame.to_parquet(tmp_path / "r.parquet")
    pq = read_registry(tmp_path / "r.parquet").registry
    np.testing.assert_array_equal(pq.household_id, frame["household_id"].to_numpy())


def test_missing_ids_are_not_called_duplicates(tmp_path: Path) -> None:
    frame = valid_rows().astype(object)
    frame.loc[[1, 3], "household_id"] = None
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    assert report.rejects["row"].tolist() == [1, 3]
    assert all("duplicate" not in r for r in report.rejects["reason"])


def test_nullable_dates_with_gaps(tmp_path: Path) -> None:
    frame = valid_rows()
    frame["registered_on"] = ["2019-01-01", None] * 3
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    assert report.n_rejected == 0
    assert report.registry.frame["registered_on"].isna().sum() == 3


@pytest.mark.parametrize("encoding", ["WKB", "geoarrow"])
def test_3d_geoparquet_points_are_read_as_lon_lat(tmp_path: Path, encoding: str) -> None:
    from rahat.geo.registry.io import DROPPED_Z_NOTE

    frame = read_registry(write_csv(valid_rows(), tmp_path / "r.csv")).registry.frame
    points = gpd.points_from_xy(frame["lon"], frame["lat"], z=np.arange(len(frame)) * 10.0)
    path = tmp_path / "z.parquet"
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points, crs=4326)
    gdf.to_parquet(path, geometry_encoding=encoding)
    report = read_registry(path)
    pd.testing.assert_frame_equal(report.registry.frame, frame)
    assert report.notes == (DROPPED_Z_NOTE,)
    assert read_registry(write_registry(frame, tmp_path / "2d.parquet")).notes == ()


def test_wkb_lines_are_still_refused(tmp_path: Path) -> None:
    import shapely

    frame = read_registry(write_csv(valid_rows(), tmp_path / "r.csv")).registry.frame
    lines = shapely.linestrings(
        [[(x, y), (x + 0.01, y)] for x, y in zip(frame["lon"], frame["lat"], strict=True)]
    )
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=lines, crs=4326)
    gdf.to_parquet(tmp_path / "lines.parquet")
    with pytest.raises(SchemaError, match="points only"):
        read_registry(tmp_path / "lines.parquet")
