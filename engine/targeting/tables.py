"""Arrow tables of a caseload for the file writers: CSV by record batch, GeoPackage points.

Every text form of a number is the shortest decimal that reads back to the same value in its
own type: a float32 ``0.9121`` is written ``0.9121``, never ``0.9121000003814698`` (pyarrow
formats float32 as float32). The CSV keeps the conventions of the caseload files: a header of
bare column names, booleans ``True``/``False``, missing values and NaN as empty fields, and
strings quoted only when some string of the file needs it (a comma, quote or line break); the
API's CSV export (:mod:`rahat.api.service.export`) writes through the same functions.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.csv as pacsv

#: Rows per record batch written.
BATCH_ROWS = 65_536
#: Characters that make pyarrow's CSV writer quote (or, unquoted, refuse) a value.
_SPECIAL_BYTES: tuple[bytes, ...] = (b",", b'"', b"\r", b"\n")
_TRUE, _FALSE = pa.scalar("True", pa.string()), pa.scalar("False", pa.string())


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The caseload frame as an Arrow table (categoricals as dictionaries, dtypes kept)."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def _text_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _special_bytes(chunk: pa.Array) -> bool:
    """Whether the text of a string array holds a comma, quote or line break (a byte scan)."""
    if len(chunk) == 0:
        return False
    wide = pa.types.is_large_string(chunk.type)
    _, offsets, data = chunk.buffers()
    if data is None:
        return False
    ends = np.frombuffer(offsets, np.int64 if wide else np.int32)
    first, last = int(ends[chunk.offset]), int(ends[chunk.offset + len(chunk)])
    text = memoryview(data)[first:last].tobytes()
    return any(char in text for char in _SPECIAL_BYTES)


def _needs_quotes(column: pa.ChunkedArray | pa.Array) -> bool:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    t = column.type
    if pa.types.is_dictionary(t):
        return _text_type(t.value_type) and any(_special_bytes(c.dictionary) for c in chunks)
    return _text_type(t) and any(_special_bytes(c) for c in chunks)


def csv_table(table: pa.Table) -> pa.Table:
    """``table`` with the CSV's value forms: booleans as ``True``/``False``, NaN as missing."""
    columns = []
    for column in table.columns:
        t = column.type
        if pa.types.is_boolean(t):
            column = pc.if_else(column, _TRUE, _FALSE)
        elif pa.types.is_floating(t):
            nan = pc.is_nan(column)
            if pc.any(nan).as_py():
                column = pc.if_else(nan, pa.scalar(None, t), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def csv_options(table: pa.Table, *, header: bool = True) -> pacsv.WriteOptions:
    """Writer options for ``table``: strings quoted only where some string of it needs quotes.

    The values :func:`csv_table` adds (``True``/``False``) never need quotes.
    """
    import pyarrow.csv as pacsv

    quote = any(_needs_quotes(column) for column in table.columns)
    names = _needs_quotes(pa.array(table.column_names, pa.string()))
    return pacsv.WriteOptions(
        include_header=header,
        quoting_style="needed" if quote else "none",
        quoting_header="needed" if names else "none",
    )


def _csv_bytes(batch: pa.RecordBatch, options: pacsv.WriteOptions) -> bytes:
    import pyarrow.csv as pacsv

    sink = io.BytesIO()
    pacsv.write_csv(csv_table(pa.Table.from_batches([batch])), sink, options)
    return sink.getvalue()


def csv_chunks(table: pa.Table, threads: int | None = None) -> Iterator[bytes]:
    """Yield ``table`` as CSV text (module docstring), header first, one chunk per batch.

    Quoting is decided once for the whole table (:func:`csv_options`); each record batch is
    then converted (:func:`csv_table`) and formatted in a small thread pool (pyarrow releases
    the GIL), a bounded number ahead of the one yielded, so memory stays at a few batches
    whatever the table size.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    import pyarrow.csv as pacsv

    threads = threads or max(1, min(4, os.cpu_count() or 1))
    first = csv_options(table)
    rest = pacsv.WriteOptions(
        include_header=False,
        quoting_style=first.quoting_style,
        quoting_header=first.quoting_header,
    )
    batches = table.to_batches(max_chunksize=BATCH_ROWS)
    if not batches:
        yield _csv_bytes(pa.RecordBatch.from_pylist([], schema=table.schema), first)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rahat-csv") as pool:
        pending: deque[Future[bytes]] = deque()
        for i, batch in enumerate(batches):
            pending.append(pool.submit(_csv_bytes, batch, rest if i else first))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_csv(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` to ``path`` as the caseload CSV (:func:`csv_chunks`)."""
    with Path(path).open("wb") as fh:
        for chunk in csv_chunks(table):
            fh.write(chunk)


def _point_wkb(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Little-endian WKB points (``POINT EMPTY`` as NaN coordinates, as GEOS writes it)."""
    record = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    points = np.empty(len(lon), dtype=record)
    points["order"] = 1
    points["kind"] = 1
    points["x"] = lon
    points["y"] = lat
    raw = pa.py_buffer(points.tobytes())
    fixed = pa.Array.from_buffers(pa.binary(record.itemsize), len(lon), [None, raw])
    return fixed.cast(pa.binary())


def point_table(table: pa.Table) -> pa.Table:
    """Return ``table`` ready for a GeoPackage, with a WKB ``geometry`` column from lon/lat.

    Dictionaries become plain strings and float32 columns their shortest decimal as float64
    (GeoPackage reals are doubles: ``0.9121``, not ``0.9121000003814698``).
    """
    columns: list[Any] = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        t = column.type
        if pa.types.is_float32(t):
            column = column.cast(pa.string()).cast(pa.float64())
        elif pa.types.is_null(t):  # a column of nothing but missing values: a text field
            column = column.cast(pa.string())
        columns.append(column)
    lon = table["lon"].to_numpy().astype(np.float64)
    lat = table["lat"].to_numpy().astype(np.float64)
    columns.append(_point_wkb(lon, lat))
    return pa.Table.from_arrays(columns, names=[*table.column_names, "geometry"])
