"""Read and write registry files: GeoParquet, Parquet, Feather/Arrow IPC and CSV.

Reading is Arrow-based and columnar end to end: a file becomes a :class:`pyarrow.Table`, string
columns are dictionary-encoded (pandas categoricals), and no Python object is created per
household. Writing produces GeoParquet 1.1 with a native ``point`` geometry column (a struct of
``x``/``y`` that shares the coordinate buffers, so it costs no extra copy) and is atomic: the
file appears under its name only once it is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rahat.geo.errors import SchemaError, UnreadableFileError
from rahat.geo.files import atomic_write
from rahat.geo.registry.identity import TOKEN_COLUMNS
from rahat.geo.registry.schema import COLUMNS

#: File formats Rahat reads registries from, by the name used in messages.
FORMATS = ("geoparquet", "parquet", "feather", "csv")

_GEOMETRY = "geometry"

#: Leading bytes of the formats read, then of compressed files a registry is sometimes sent as
#: (refused: unpack first).
_MAGIC = (
    (b"PAR1", "parquet"),
    (b"ARROW1", "feather"),
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def sniff_format(path: Path) -> str:
    """Return the format of a registry file from its first bytes (and extension for CSV).

    Raises
    ------
    UnreadableFileError
        If the file is missing, not a regular file (a FIFO, socket or device), empty, or not
        one of :data:`FORMATS`.
    """
    from rahat.geo.hazards.sniff import magic_format, read_head

    head = read_head(
        path,
        8,
        # a FIFO, socket or device is refused instead of blocking the reader forever
        not_regular=lambda mode: (
            "is not a regular file (a folder, FIFO, socket or device); give the path of a "
            "registry file"
        ),
        cannot_open=lambda exc: f"cannot open the file ({exc.strerror}); check the path",
    )
    if not head:
        raise UnreadableFileError("the file is empty", source=path)
    fmt = magic_format(head, _MAGIC)
    if fmt in ("parquet", "feather"):
        return fmt
    if fmt is not None:
        raise UnreadableFileError(
            f"the file is {fmt}-compressed; unpack it and give the registry file itself",
            source=path,
        )
    if path.suffix.lower() in (".csv", ".txt") or b"," in head or b"\n" in head:
        return "csv"
    raise UnreadableFileError(
        "not a registry file: expected GeoParquet, Parquet, Feather/Arrow or CSV", source=path
    )


def _read_arrow(path: Path, fmt: str) -> pa.Table:
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            return pq.read_table(path)
        if fmt == "feather":
            return feather.read_table(path)
        # Every CSV column is read as text first: validation decides per row what parses.
        convert = pacsv.ConvertOptions(
            column_types={
                name: pa.string() for name in [*(c.name for c in COLUMNS), *TOKEN_COLUMNS]
            },
            strings_can_be_null=True,
        )
        return pacsv.read_csv(path, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:300]
        raise UnreadableFileError(
            f"cannot read the file as {fmt} ({reason}); is it truncated or corrupt?", source=path
        ) from None


def _geo_metadata(table: pa.Table) -> dict | None:
    raw = (table.schema.metadata or {}).get(b"geo")
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


#: WKB geometry type codes of a point with a Z and/or M ordinate (ISO and EWKB flags).
_WKB_POINT_TYPES = {
    1: 2,
    1001: 3,
    2001: 3,
    3001: 4,
    0x80000001: 3,
    0x40000001: 3,
    0xC0000001: 4,
}
#: Note added when points carried Z (or M) ordinates that Rahat drops.
DROPPED_Z_NOTE = (
    "the geometry column holds 3-D points (Z and/or M ordinates): Rahat uses lon/lat only "
    "and dropped the extra ordinates"
)
_NOTES_KEY = b"rahat:notes"


def _decode_wkb_points(column: pa.ChunkedArray, path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """Decode a WKB point column to coordinate arrays without per-row Python objects.

    2-D, 3-D (Z or M) and 4-D (ZM) little-endian points are accepted, in ISO or EWKB form;
    only x and y are kept. Returns ``(x, y, dropped)``, ``dropped`` true when any point had
    more than two ordinates.
    """
    x_parts, y_parts = [], []
    dropped = False
    for chunk in column.chunks:
        chunk = chunk.cast(pa.binary()) if chunk.type != pa.binary() else chunk
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8) if len(chunk) else None
        lengths = np.diff(offsets)
        if chunk.null_count or np.any(lengths < 21):
            raise SchemaError(
                "the geometry column must hold points only (WKB); give lon/lat columns instead",
                source=path,
            )
        if data is None:
            continue
        head = data[offsets[:-1, None] + np.arange(21)]
        if np.any(head[:, 0] != 1):
            raise SchemaError("the geometry column must hold little-endian WKB points", source=path)
        kinds = head[:, 1:5].copy().view("<u4")[:, 0]
        dims = np.zeros(len(kinds), dtype=np.int64)
        for kind, ndim in _WKB_POINT_TYPES.items():
            dims[kinds == kind] = ndim
        if np.any(dims == 0) or np.any(lengths != 5 + 8 * dims):
            raise SchemaError(
                "the geometry column must hold points only (WKB Point, Point Z, Point M or "
                "Point ZM); give lon/lat columns instead",
                source=path,
            )
        dropped = dropped or bool(np.any(dims > 2))
        x_parts.append(head[:, 5:13].copy().view("<f8")[:, 0])
        y_parts.append(head[:, 13:21].copy().view("<f8")[:, 0])
    empty = np.empty(0, dtype=np.float64)
    return (
        np.concatenate(x_parts) if x_parts else empty,
        np.concatenate(y_parts) if y_parts else empty,
        dropped,
    )


def read_notes(table: pa.Table) -> tuple[str, ...]:
    """Return the notes :func:`read_table` left on ``table`` (for example dropped Z values)."""
    raw = (table.schema.metadata or {}).get(_NOTES_KEY)
    return tuple(json.loads(raw)) if raw else ()


def _with_note(table: pa.Table, note: str) -> pa.Table:
    metadata = dict(table.schema.metadata or {})
    metadata[_NOTES_KEY] = json.dumps([*read_notes(table), note]).encode()
    return table.replace_schema_metadata(metadata)


def _coordinates_from_geometry(table: pa.Table, path: Path) -> pa.Table:
    """Add ``lon``/``lat`` columns from a GeoParquet point column when they are absent."""
    if "lon" in table.column_names and "lat" in table.column_names:
        return table.drop_columns([_GEOMETRY]) if _GEOMETRY in table.column_names else table
    meta = _geo_metadata(table)
    if meta is None or _GEOMETRY not in table.column_names:
        return table
    spec = meta.get("columns", {}).get(_GEOMETRY, {})
    crs = spec.get("crs", "OGC:CRS84")
    if crs not in (None, "OGC:CRS84") and not _is_wgs84(crs):
        raise SchemaError(
            "household points must be in WGS 84 lon/lat (EPSG:4326 / OGC:CRS84); "
            "reproject the file first",
            source=path,
        )
    column = table.column(_GEOMETRY)
    if spec.get("encoding") == "point" or pa.types.is_struct(column.type):
        combined = column.combine_chunks()
        lon = combined.field("x")
        lat = combined.field("y")
        names = {combined.type.field(i).name for i in range(combined.type.num_fields)}
        dropped = bool(names & {"z", "m"})
    else:
        lon_np, lat_np, dropped = _decode_wkb_points(column, path)
        lon, lat = pa.array(lon_np), pa.array(lat_np)
    table = table.drop_columns([_GEOMETRY])
    table = table.append_column("lon", lon).append_column("lat", lat)
    return _with_note(table, DROPPED_Z_NOTE) if dropped else table


def _is_wgs84(crs: object) -> bool:
    from pyproj import CRS

    try:
        return bool(CRS.from_user_input(crs).equals(CRS.from_epsg(4326), ignore_axis_order=True))
    except Exception:
        return False


def read_table(path: str | Path) -> pa.Table:
    """Read a registry file into an Arrow table, without validating its rows.

    ``lon``/``lat`` come from the columns of that name or, in GeoParquet, from the point
    geometry column.

    Parameters
    ----------
    path
        GeoParquet, Parquet, Feather/Arrow IPC or CSV file.

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    UnreadableFileError
        If the file cannot be opened or parsed at all.
    SchemaError
        If the geometry column is not usable as household points.
    """
    path = Path(path)
    fmt = sniff_format(path)
    table = _read_arrow(path, fmt)
    try:
        names = table.column_names
    except UnicodeDecodeError:
        raise UnreadableFileError(
            "the column names are not UTF-8 text; is it a binary or compressed file?", source=path
        ) from None
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SchemaError(
            f"column(s) {', '.join(repeated)} appear more than once; give each column once",
            source=path,
        )
    return _coordinates_from_geometry(table, path)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # Dates are stored as date32 (a day is the resolution the registry records).
    for name in table.column_names:
        if pa.types.is_timestamp(table.schema.field(name).type):
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, table.column(name).cast(pa.date32()))
    return table


def write_registry(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write households to GeoParquet 1.1 atomically.

    The ``geometry`` column uses the native ``point`` encoding (a struct of the ``lon`` and
    ``lat`` buffers), so the file is readable by geopandas and GDAL while costing no extra
    copy of the coordinates. The file is written under a temporary name in the same folder and
    renamed into place, so a crash never leaves a partial file under ``path``.

    Parameters
    ----------
    frame
        Households with at least ``lon`` and ``lat`` columns (canonical dtypes).
    path
        Destination file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    table = _to_arrow(frame.drop(columns=["lon", "lat"]))
    geometry = pa.StructArray.from_arrays(
        [pa.array(frame["lon"].to_numpy(np.float64)), pa.array(frame["lat"].to_numpy(np.float64))],
        names=["x", "y"],
    )
    table = table.append_column(_GEOMETRY, geometry)
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    bbox = (
        [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
        if len(frame)
        else []
    )
    geo = {
        "version": "1.1.0",
        "primary_column": _GEOMETRY,
        "columns": {_GEOMETRY: {"encoding": "point", "geometry_types": ["Point"], "bbox": bbox}},
    }
    metadata = dict(table.schema.metadata or {})
    metadata[b"geo"] = json.dumps(geo).encode()
    metadata.pop(b"pandas", None)
    table = table.replace_schema_metadata(metadata)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path
