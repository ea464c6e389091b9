"""Caseload writers through Arrow: CSV round trip, shortest float text, GeoPackage, --outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import pytest
from typer.testing import CliRunner

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import evaluate, load_scenario, write_outputs
from rahat.geo.errors import InputError


@pytest.fixture(scope="module")
def caseload():
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 150}})
    return evaluate(scenario, synthetic_exposure(2000, seed=11))


def _csv_frame(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The CSV read back with the caseload's dtypes (text as text, numbers by their dtype)."""
    dtypes = {
        c: (str if not pd.api.types.is_numeric_dtype(t) else None) for c, t in frame.dtypes.items()
    }
    back = pd.read_csv(
        path,
        dtype={c: t for c, t in dtypes.items() if t is not None},
        keep_default_na=False,
        na_values=[""],
    )
    return back


def test_csv_round_trip_equals_the_frame_column_by_column(caseload, tmp_path) -> None:
    import pyarrow.parquet as pq

    from rahat.api.service.export import stream_csv

    paths = write_outputs(caseload, tmp_path, formats=("csv", "parquet"))
    # the API's CSV export of the caseload Parquet writes the same bytes as caseload.csv
    exported = b"".join(stream_csv(pq.read_table(paths["parquet"]), threads=3))
    assert exported == paths["csv"].read_bytes()
    frame = caseload.frame
    back = _csv_frame(paths["csv"], frame)
    assert list(back.columns) == list(frame.columns)
    assert paths["csv"].read_text().splitlines()[0] == ",".join(frame.columns)  # bare header
    for name in frame.columns:
        want, got = frame[name], back[name]
        if pd.api.types.is_bool_dtype(want):
            assert got.tolist() == want.tolist(), name
        elif pd.api.types.is_float_dtype(want):
            assert np.array_equal(
                got.to_numpy(np.float64).astype(want.dtype), want.to_numpy(), equal_nan=True
            ), name
        elif pd.api.types.is_numeric_dtype(want):
            assert got.astype(want.dtype).tolist() == want.tolist(), name
        else:
            expect = want.astype(object).where(want.notna(), None).tolist()
            assert got.astype(object).where(got.notna(), None).tolist() == expect, name


def test_float32_is_written_as_its_shortest_decimal_and_reads_back_exactly() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate(
        [np.array([0.9121, 9.1, 1.62, np.nan], np.float32), rng.random(500, dtype=np.float32)]
    )
    doubles = np.array([0.1, 1 / 3, np.nan, 2.5e-7])
    table = pa.table(
        {"f": values, "d": np.resize(doubles, len(values)), "ok": np.arange(len(values)) % 2 == 0}
    )
    from rahat.api.service.export import stream_csv  # the caseload.csv writer's chunks

    text = b"".join(stream_csv(table)).decode()
    lines = text.splitlines()
    assert lines[0] == "f,d,ok"
    assert lines[1] == "0.9121,0.1,True" and lines[2] == "9.1,0.3333333333333333,False"
    assert lines[4].startswith(",")  # NaN written as an empty field
    back = pacsv.read_csv(
        io.BytesIO(text.encode()),
        convert_options=pacsv.ConvertOptions(column_types={"f": pa.float32(), "d": pa.float64()}),
    )
    assert np.array_equal(back["f"].to_numpy(zero_copy_only=False), values, equal_nan=True)
    assert np.array_equal(
        back["d"].to_numpy(zero_copy_only=False), table["d"].to_numpy(), equal_nan=True
    )
    quoted = b"".join(stream_csv(pa.table({"s": ["a,b", "c"], "ok": [True, None]}))).decode()
    assert quoted == 's,ok\n"a,b","True"\n"c",\n'  # quotes only when some string needs them
    for value, field in zip(values[4:], (line.split(",")[0] for line in lines[5:]), strict=True):
        assert field == np.format_float_positional(value, unique=True, trim="-") or float(
            np.float32(field)
        ) == float(value)
        assert len(field) <= len(repr(float(value)))


def test_gpkg_holds_exactly_the_selected_households_without_float32_noise(
    caseload, tmp_path
) -> None:
    paths = write_outputs(caseload, tmp_path, formats=("gpkg",))
    points = pyogrio.read_dataframe(paths["gpkg"])
    selected = caseload.selected
    assert points["household_id"].tolist() == selected["household_id"].tolist()
    assert points.geometry.x.tolist() == selected["lon"].tolist()
    float32 = [c for c in selected.columns if selected[c].dtype == np.float32]
    assert float32
    for name in float32:
        shortest = [float(str(v)) for v in selected[name].to_numpy()]  # 0.9121, not 0.91210000...
        assert np.array_equal(points[name].to_numpy(np.float64), shortest, equal_nan=True), name


def test_outputs_option_writes_what_it_names_plus_parquet_summary_manifest(tmp_path) -> None:
    from rahat.api.cli import app
    from rahat.geo.paths import scenarios_dir
    from rahat.geo.registry.synth import write_demo

    write_demo(1500, 2022, tmp_path / "reg")
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(scenarios_dir() / "flood_2022_footprint.yaml"),
            "--registry",
            str(tmp_path / "reg" / "registry.parquet"),
            "--out",
            str(tmp_path / "out"),
            "--outputs",
            "csv",
            "--json",
        ],
        env={"RAHAT_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {
        "caseload.parquet",
        "caseload.csv",
        "summary.csv",
        "manifest.json",
        "rejects.csv",
    }
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["outputs"]) == {"parquet", "csv", "summary", "rejects"}
    from rahat.engine.targeting.outputs import parse_formats

    assert parse_formats(None) == ("parquet", "gpkg", "summary", "map", "manifest")  # no csv
    assert parse_formats(" map , gpkg") == ("parquet", "gpkg", "summary", "map", "manifest")
    with pytest.raises(InputError, match="unknown output pdf"):
        parse_formats("csv,pdf")
