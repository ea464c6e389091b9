"""Hostile registry files: broken CSV and Parquet, absurd values, bombs, FIFOs.

Files a reader cannot use at all raise a specific error; rows it can read but not accept
are rejected with a reason (outcome ``"rejected"``) and the rest of the file is kept.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cases import (
    HEADER,
    ROW,
    Case,
    fifo,
    folder,
    registry_csv,
    registry_text,
    rows,
    write,
)
from testkit import zip_bytes

G = "registry"


def _row(**values: str) -> str:
    """A valid row with some of its columns replaced."""
    cells = dict(zip(HEADER.split(","), ROW.format(id=7).split(","), strict=True))
    cells.update(values)
    return ",".join(cells.values())


def _bad_row(tmp: Path, **values: str) -> Path:
    """A registry of valid rows and one row with ``values``."""
    return registry_csv(tmp, *rows(3), _row(**values))


def _table(n: int = 3) -> pa.Table:
    import pyarrow.csv as pacsv

    data = registry_text(*rows(n))
    return pacsv.read_csv(io.BytesIO(data.encode()))


def _parquet(tmp: Path, table: pa.Table, name: str = "reg.parquet") -> Path:
    path = tmp / name
    pq.write_table(table, path)
    return path


def _truncated_parquet(tmp: Path) -> Path:
    path = _parquet(tmp, _table(50))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _wrong_types(tmp: Path) -> Path:
    table = _table()
    table = table.set_column(0, "household_id", pa.array(["x", "y", "z"]))
    table = table.set_column(6, "pmt_score", pa.array([True, False, True]))
    return _parquet(tmp, table)


def _geoparquet(tmp: Path, geometry: pa.Array, meta: dict) -> Path:
    table = _table().drop(["lon", "lat"]).append_column("geometry", geometry)
    table = table.replace_schema_metadata({b"geo": json.dumps(meta).encode()})
    return _parquet(tmp, table)


def _wkb_point_z(x: float, y: float, z: float) -> bytes:
    import struct

    return struct.pack("<BIddd", 1, 1001, x, y, z)


def _geoparquet_3d(tmp: Path) -> Path:
    geometry = pa.array([_wkb_point_z(67.77, 26.73, 10.0)] * 3, pa.binary())
    meta = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point Z"]}},
    }
    return _geoparquet(tmp, geometry, meta)


def _geoparquet_polygons(tmp: Path) -> Path:
    import struct

    ring = [(67.0, 26.0), (68.0, 26.0), (68.0, 27.0), (67.0, 26.0)]
    wkb = struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)
    meta = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}},
    }
    return _geoparquet(tmp, pa.array([wkb] * 3, pa.binary()), meta)


def _geoparquet_utm(tmp: Path) -> Path:
    import struct

    geometry = pa.array([struct.pack("<BIdd", 1, 1, 350_000.0, 2_950_000.0)] * 3, pa.binary())
    meta = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Point"],
                "crs": {"id": {"authority": "EPSG", "code": 32642}},
            }
        },
    }
    return _geoparquet(tmp, geometry, meta)


def _zip_of_csv(tmp: Path) -> Path:
    return write(tmp, "reg.zip", zip_bytes({"reg.csv": registry_text(*rows())}))


def _gzip_bomb(tmp: Path, name: str) -> Path:
    path = tmp / name
    with gzip.open(path, "wb", compresslevel=9) as gz:
        chunk = b"\0" * (1 << 20)
        for _ in range(64):  # 64 MB of zeros in about 64 kB
            gz.write(chunk)
    return path


def _truncated_feather(tmp: Path) -> Path:
    import pyarrow.feather as feather

    path = tmp / "reg.feather"
    feather.write_feather(_table(50), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _with_pcode(tmp: Path) -> Path:
    header = HEADER + ",district_pcode,tehsil_pcode"
    good = [r + ",PK703,PK70301" for r in rows(3)]
    return registry_csv(tmp, *good, ROW.format(id=9) + ",PK999,PK99999", header=header)


CASES = [
    Case("empty-file", G, lambda t: write(t, "reg.csv", b""), "UnreadableFileError", "empty"),
    Case("header-only", G, lambda t: registry_csv(t), "empty"),
    Case("blank-lines-only", G, lambda t: write(t, "reg.csv", "\n\n\n"), "UnreadableFileError"),
    Case(
        "utf8-bom",
        G,
        lambda t: write(t, "reg.csv", "\ufeff" + HEADER + "\n" + ROW.format(id=1)),
        "ok",
    ),
    Case(
        "semicolon-delimiter",
        G,
        lambda t: write(t, "reg.csv", "\n".join([HEADER, *rows()]).replace(",", ";")),
        "SchemaError",
    ),
    Case(
        "tab-delimiter",
        G,
        lambda t: write(t, "reg.csv", "\n".join([HEADER, *rows()]).replace(",", "\t")),
        "SchemaError",
    ),
    Case(
        "missing-pmt-column",
        G,
        lambda t: registry_csv(
            t,
            *[r.replace(",25.5,", ",") for r in rows()],
            header=HEADER.replace(",pmt_score", ""),
        ),
        "SchemaError",
        "pmt_score",
    ),
    Case("unrelated-columns", G, lambda t: write(t, "reg.csv", "a,b,c\n1,2,3\n"), "SchemaError"),
    Case(
        "duplicate-column-names",
        G,
        lambda t: registry_csv(t, *[r + ",1" for r in rows()], header=HEADER + ",lon"),
        "SchemaError",
        "more than once",
    ),
    Case("duplicate-ids", G, lambda t: registry_csv(t, *rows(3), ROW.format(id=1)), "rejected"),
    Case("id-2-pow-64", G, lambda t: _bad_row(t, household_id=str(2**64)), "rejected"),
    Case("id-negative", G, lambda t: _bad_row(t, household_id="-5"), "rejected"),
    Case("id-text", G, lambda t: _bad_row(t, household_id="abc"), "rejected"),
    Case("id-float", G, lambda t: _bad_row(t, household_id="1.5"), "rejected"),
    Case("lon-nan", G, lambda t: _bad_row(t, lon="nan"), "rejected"),
    Case("lon-inf", G, lambda t: _bad_row(t, lon="inf"), "rejected"),
    Case("lat-minus-inf", G, lambda t: _bad_row(t, lat="-inf"), "rejected"),
    Case("lat-1e300", G, lambda t: _bad_row(t, lat="1e300"), "rejected"),
    Case("lon-negative", G, lambda t: _bad_row(t, lon="-67.77"), "rejected"),
    Case("lat-60", G, lambda t: _bad_row(t, lat="60"), "rejected"),
    Case("lat-minus-91", G, lambda t: _bad_row(t, lat="-91"), "rejected"),
    Case("null-island", G, lambda t: _bad_row(t, lon="0", lat="0"), "rejected"),
    Case("unknown-province", G, lambda t: _bad_row(t, province="Atlantis"), "rejected"),
    Case("unknown-district", G, lambda t: _bad_row(t, district="Gotham"), "rejected"),
    Case("unknown-tehsil", G, lambda t: _bad_row(t, tehsil="Nowhere"), "rejected"),
    Case("unknown-pcode", G, _with_pcode, "rejected"),
    Case("urdu-names", G, lambda t: _bad_row(t, province="سندھ", district="دادو"), "rejected"),
    Case(
        "rich-markup-name",
        G,
        lambda t: _bad_row(t, tehsil="[bold red]:100:[/]"),
        "rejected",
    ),
    Case(
        "non-utf8-bytes",
        G,
        lambda t: write(
            t,
            "reg.csv",
            registry_text(*rows()).encode() + _row(tehsil="X").encode().replace(b"X", b"\xff\xfe"),
        ),
        "UnreadableFileError",
    ),
    Case(
        "nul-bytes",
        G,
        lambda t: write(t, "reg.csv", registry_text(*rows()).encode() + b"\0" * 64 + b"\n"),
        "UnreadableFileError",
    ),
    Case("name-1mb", G, lambda t: _bad_row(t, tehsil="x" * 1_000_000), "rejected"),
    Case(
        "header-10000-columns",
        G,
        lambda t: registry_csv(
            t,
            *[r + ",0" * 10_000 for r in rows()],
            header=HEADER + "".join(f",c{i}" for i in range(10_000)),
        ),
        "ok",
    ),
    Case("size-negative", G, lambda t: _bad_row(t, household_size="-3"), "rejected"),
    Case("size-1e9", G, lambda t: _bad_row(t, household_size="1000000000"), "rejected"),
    Case("pmt-nan", G, lambda t: _bad_row(t, pmt_score="NaN"), "rejected"),
    Case("female-headed-maybe", G, lambda t: _bad_row(t, female_headed="maybe"), "rejected"),
    Case("date-not-a-date", G, lambda t: _bad_row(t, last_updated="yesterday"), "rejected"),
    Case("dwelling-unknown", G, lambda t: _bad_row(t, dwelling="castle"), "rejected"),
    Case("children-more-than-size", G, lambda t: _bad_row(t, children_under5="40"), "rejected"),
    Case(
        "unbalanced-quote",
        G,
        lambda t: write(t, "reg.csv", HEADER + "\n" + '"' + ROW.format(id=1) + "\n"),
        "UnreadableFileError",
    ),
    Case(
        "json-file", G, lambda t: write(t, "reg.json", '{"households": []}'), "UnreadableFileError"
    ),
    Case(
        "random-binary",
        G,
        lambda t: write(t, "reg.bin", bytes(range(256)) * 4),
        "UnreadableFileError",
    ),
    Case("zip-of-csv", G, _zip_of_csv, "UnreadableFileError"),
    Case("gzip-bomb-gz", G, lambda t: _gzip_bomb(t, "reg.csv.gz"), "UnreadableFileError"),
    Case(
        "gzip-bomb-as-csv",
        G,
        lambda t: _gzip_bomb(t, "reg.csv"),
        "UnreadableFileError",
        "compressed",
    ),
    Case("truncated-parquet", G, _truncated_parquet, "UnreadableFileError", "truncated"),
    Case(
        "parquet-magic-only", G, lambda t: write(t, "reg.parquet", b"PAR1"), "UnreadableFileError"
    ),
    Case("truncated-feather", G, _truncated_feather, "UnreadableFileError"),
    Case("parquet-wrong-types", G, _wrong_types, "rejected", "not a number"),
    Case("parquet-zero-rows", G, lambda t: _parquet(t, _table().slice(0, 0)), "empty"),
    Case("geoparquet-3d", G, _geoparquet_3d, "ok"),
    Case("geoparquet-polygons", G, _geoparquet_polygons, "SchemaError"),
    Case("geoparquet-utm", G, _geoparquet_utm, "SchemaError"),
    Case("fifo", G, fifo("reg.csv"), "UnreadableFileError", "regular file"),
    Case("directory", G, folder("reg.csv"), "UnreadableFileError", "regular file"),
    Case("missing-file", G, lambda t: t / "nope.csv", "UnreadableFileError"),
]

#: The reason each case's bad row must be rejected with (the rejects file's reason column).
REASONS = {
    "duplicate-ids": "household_id: duplicate",
    "id-2-pow-64": "household_id: too large",
    "id-negative": "household_id: below 1",
    "id-text": "household_id: missing or not a number",
    "id-float": "household_id: not a whole number",
    "lon-nan": "lon: missing or not a number",
    "lon-inf": "lon: outside -180..180",
    "lat-minus-inf": "lat: outside -90..90",
    "lat-1e300": "lat: outside -90..90",
    "lon-negative": "outside Pakistan",
    "lat-60": "outside Pakistan",
    "lat-minus-91": "lat: outside -90..90",
    "null-island": "outside Pakistan",
    "unknown-province": "province: unknown 'Atlantis'",
    "unknown-district": "district: unknown 'Gotham'",
    "unknown-tehsil": "tehsil: unknown 'Nowhere'",
    "unknown-pcode": "district_pcode: unknown 'PK999'",
    "urdu-names": "province: unknown 'سندھ'",
    "rich-markup-name": "tehsil: unknown '[bold red]:100:[/]'",
    "name-1mb": "tehsil: unknown",
    "size-negative": "household_size: outside 1..60",
    "size-1e9": "household_size: outside 1..60",
    "pmt-nan": "pmt_score: missing or not a number",
    "female-headed-maybe": "female_headed: not true/false",
    "date-not-a-date": "last_updated: not a date",
    "dwelling-unknown": "dwelling: not one of",
    "children-more-than-size": "children_under5: more than household_size",
}
CASES = [
    dataclasses.replace(c, message_contains=REASONS.get(c.id, c.message_contains)) for c in CASES
]
