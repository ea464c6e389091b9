"""Household rows of a caseload, cut to what the caller may see, streamed in several formats.

The caseload is read with pyarrow and filtered with vectorised compute kernels; CSV and Parquet
are written batch by batch with pyarrow's writers (the CSV exactly as the run's ``caseload.csv``
is written, :mod:`rahat.engine.targeting.tables`), a few batches formatted at once in threads.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rahat.api.service.enums import HouseholdFormat
from rahat.api.service.policy import ID_FIELD, LEVEL_FIELDS, REF_FIELD, Grant
from rahat.geo.errors import AccessDeniedError, InputError
from rahat.geo.units import UNIT_COLUMNS, Level, Unit, gazetteer

#: Output formats of ``GET /runs/{id}/households`` and their media types.
MEDIA_TYPES: dict[HouseholdFormat, str] = {
    HouseholdFormat.JSON: "application/json",
    HouseholdFormat.CSV: "text/csv; charset=utf-8",
    HouseholdFormat.PARQUET: "application/vnd.apache.parquet",
    HouseholdFormat.GEOJSON: "application/geo+json",
}
#: Page size of JSON output when no ``limit`` is given.
DEFAULT_PAGE = 100
#: Rows per streamed batch.
BATCH_ROWS = 65_536


@dataclass
class HouseholdQuery:
    """A request for household rows.

    Attributes
    ----------
    units
        Admin units to keep (``level:code``, a code, or a unique name); empty for all the
        caller may see.
    fields
        Columns to return; empty for all the caller may see.
    offset, limit
        Paging over the matching rows (in caseload order).
    selected_only
        Keep only households selected for assistance.
    format
        The output format.
    """

    units: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    offset: int = 0
    limit: int | None = None
    selected_only: bool = True
    format: HouseholdFormat = HouseholdFormat.JSON

    def as_filter(self) -> dict[str, Any]:
        """The query as a JSON-serialisable dict, for the audit log."""
        return {**asdict(self), "format": str(self.format)}


@dataclass
class Selection:
    """Rows and columns released for one request."""

    table: pa.Table
    total: int
    fields: list[str]
    offset: int
    limit: int | None


def _unit_codes(table: pa.Table) -> dict[Level, Any]:
    """Code at every level of each row (see :meth:`rahat.geo.units.Gazetteer.codes_of`)."""
    import numpy as np

    columns = [c for c in UNIT_COLUMNS if c in table.column_names]
    frame = table.select(columns).to_pandas() if columns else None
    if frame is None:
        return {lv: np.full(table.num_rows, None, dtype=object) for lv in Level}
    return gazetteer().codes_of(frame)


def in_units(codes: dict[Level, Any], units: Sequence[Unit]) -> Any:
    """Boolean array: rows lying in any of ``units``, each matched by code at its own level."""
    import numpy as np

    mask = np.zeros(len(codes[Level.PROVINCE]), dtype=bool)
    for unit in units:
        mask |= codes[unit.level] == unit.code
    return mask


def _output_fields(available: Sequence[str], grant: Grant, requested: Sequence[str]) -> list[str]:
    can_ref = grant.pseudonym_key is not None
    if requested:
        for name in requested:
            if name == REF_FIELD:
                if not can_ref:
                    raise InputError(
                        f"Field '{REF_FIELD}' exists only under an agreement; ask for "
                        f"'{ID_FIELD}' instead.",
                    )
                continue
            if name not in available or not grant.allows_field(name):
                visible = [REF_FIELD] if can_ref else []
                visible += [f for f in available if grant.allows_field(f)]
                hint = (
                    f" Household ids are released as the pseudonymous '{REF_FIELD}'."
                    if name == ID_FIELD and can_ref
                    else ""
                )
                raise AccessDeniedError(
                    f"Field '{name}' is not one you may receive from this caseload.{hint} "
                    f"You may ask for: {', '.join(visible)}."
                )
        return list(dict.fromkeys(requested))
    fields = [REF_FIELD] if can_ref and not grant.raw_ids else []
    fields += [name for name in available if grant.allows_field(name)]
    return fields


def _requested_units(grant: Grant, requested: Sequence[str]) -> list[Unit]:
    """Resolve the ``unit`` filters; 403 for a level not granted or a unit outside the grant.

    Whether a filter is allowed depends only on the agreement and the boundaries, never on
    the caseload's rows, so the answer cannot reveal where households are.
    """
    if not requested:
        return []
    places = gazetteer()
    units = []
    for text in requested:
        try:
            unit = places.resolve(text)
        except InputError as exc:
            raise InputError(f"unit={text}: {exc}") from None
        if not grant.allows_level(unit.level):
            raise AccessDeniedError(
                f"unit={text}: filtering by {unit.level} reveals each household's {unit.level}, "
                f"which your data-sharing agreement does not grant (it needs one of the fields "
                f"{', '.join(LEVEL_FIELDS[unit.level])})."
            )
        if grant.units is not None and not any(places.overlaps(unit, g) for g in grant.units):
            raise AccessDeniedError(
                f"unit={text}: {unit.describe()} is outside your data-sharing agreement, which "
                f"covers: {'; '.join(g.describe() for g in grant.units)}."
            )
        units.append(unit)
    return units


def _pseudonyms(ids: pa.ChunkedArray, key: bytes) -> pa.Array:
    """Keyed BLAKE2b pseudonym (16 hex digits) of each household id."""
    out = [
        hashlib.blake2b(
            int(v).to_bytes(8, "little", signed=True), key=key, digest_size=8
        ).hexdigest()
        for v in ids.to_numpy(zero_copy_only=False)
    ]
    return pa.array(out, type=pa.string())


def select_households(path: Path, grant: Grant, query: HouseholdQuery) -> Selection:
    """Read the rows and columns of a caseload that ``grant`` releases for ``query``.

    Parameters
    ----------
    path
        ``caseload.parquet`` of a run.
    grant
        What the caller may see (admin units, fields, row cap, id handling).
    query
        Units, fields, paging, selection and format asked for.

    Returns
    -------
    Selection
        The released table and the number of matching rows before paging.

    Raises
    ------
    rahat.geo.errors.AccessDeniedError
        (403) When the query reaches outside the grant (unit, field, row cap, non-selected
        rows).
    rahat.geo.errors.InputError
        (422) For unknown fields or a format that needs fields the caseload lacks.
    """
    if grant.selected_only and not query.selected_only:
        raise AccessDeniedError(
            "Your data-sharing agreement covers the selected caseload only; drop "
            "selected_only=false."
        )
    available = list(pq.read_schema(path).names)
    fields = _output_fields(available, grant, query.fields)
    if query.format == HouseholdFormat.GEOJSON:
        _check_coordinates(available, grant)
    wanted = _requested_units(grant, query.units)
    read = _columns_to_read(available, fields, query, units=grant.units is not None or bool(wanted))
    table = _matching_rows(pq.read_table(path, columns=read), grant, wanted, query)
    total = table.num_rows
    limit = _page_limit(total, grant, query)
    table = _released(table.slice(min(query.offset, total), limit), fields, grant, query)
    return Selection(table=table, total=total, fields=fields, offset=query.offset, limit=limit)


def _check_coordinates(available: Sequence[str], grant: Grant) -> None:
    """Refuse GeoJSON when the caseload lacks ``lon``/``lat`` (422) or the grant does (403)."""
    for coord in ("lon", "lat"):
        if coord not in available:
            raise InputError(f"GeoJSON needs the '{coord}' column in the caseload.")
        if not grant.allows_field(coord):
            raise AccessDeniedError(
                "GeoJSON output needs the 'lon' and 'lat' fields, which your data-sharing "
                "agreement does not grant; ask for CSV, JSON or Parquet instead."
            )


def _columns_to_read(
    available: Sequence[str], fields: Sequence[str], query: HouseholdQuery, *, units: bool
) -> list[str]:
    """Caseload columns to read, in caseload order: released ones and those filters need."""
    read = [name for name in available if name in fields or name == ID_FIELD]
    if units:
        read += [c for c in UNIT_COLUMNS if c in available and c not in read]
    if query.selected_only and "selected" in available and "selected" not in read:
        read.append("selected")
    if query.format == HouseholdFormat.GEOJSON:
        read += [c for c in ("lon", "lat") if c not in read]
    return [c for c in available if c in read]


def _matching_rows(
    table: pa.Table, grant: Grant, wanted: Sequence[Unit], query: HouseholdQuery
) -> pa.Table:
    """Rows selected (if asked) and in the grant's and the query's admin units."""
    if query.selected_only and "selected" in table.column_names:
        table = table.filter(pc.fill_null(table["selected"], False))
    if grant.units is None and not wanted:
        return table
    codes = _unit_codes(table)
    mask = in_units(codes, grant.units) if grant.units is not None else None
    if wanted:
        hit = in_units(codes, wanted)
        mask = hit if mask is None else mask & hit
    assert mask is not None
    return table.filter(pa.array(mask, pa.bool_()))


def _page_limit(total: int, grant: Grant, query: HouseholdQuery) -> int | None:
    """Rows of the page after ``query.offset``; 403 beyond the grant's rows per request."""
    cap = grant.max_rows
    limit = query.limit
    if limit is not None and cap is not None and limit > cap:
        raise AccessDeniedError(
            f"limit={limit} is more than the {cap:,} rows per request your data-sharing "
            "agreement allows; page with offset and a smaller limit."
        )
    if limit is None:
        if query.format == HouseholdFormat.JSON:
            limit = min(DEFAULT_PAGE, cap) if cap is not None else DEFAULT_PAGE
        elif cap is not None and total - query.offset > cap:
            raise AccessDeniedError(
                f"This request matches {max(total - query.offset, 0):,} households, more than "
                f"the {cap:,} rows per request your data-sharing agreement allows; add "
                f"limit={cap} and page with offset, or filter by admin unit."
            )
    return limit


def _released(
    table: pa.Table, fields: Sequence[str], grant: Grant, query: HouseholdQuery
) -> pa.Table:
    """The released columns of a page: pseudonyms added, dictionaries decoded."""
    if REF_FIELD in fields:
        assert grant.pseudonym_key is not None
        table = table.append_column(REF_FIELD, _pseudonyms(table[ID_FIELD], grant.pseudonym_key))
    keep = list(fields)
    if query.format == HouseholdFormat.GEOJSON:
        keep += [c for c in ("lon", "lat") if c not in keep]
    # Decode dictionaries: a dictionary column still carries the values of filtered-out rows.
    return _plain(table.select(keep))


def _plain(table: pa.Table) -> pa.Table:
    """Decode dictionary columns to their value types (for writers that need plain types)."""
    schema = pa.schema(
        [
            f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
            for f in table.schema
        ]
    )
    return table if schema.equals(table.schema) else table.cast(schema)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def stream_csv(table: pa.Table, threads: int | None = None) -> Iterator[bytes]:
    """Yield ``table`` as CSV (header first), one chunk per record batch.

    Written as the run's ``caseload.csv`` is (:func:`rahat.engine.targeting.tables.csv_chunks`:
    ``True``/``False``, NaN empty, shortest float text, strings quoted only where some value
    needs it), formatted in a small thread pool so memory stays at a few batches.
    """
    from rahat.engine.targeting.tables import csv_chunks

    return csv_chunks(table, threads)


def stream_parquet(table: pa.Table) -> Iterator[bytes]:
    """Yield ``table`` as a Parquet file, one row group per batch."""
    sink = io.BytesIO()
    writer = pq.ParquetWriter(sink, table.schema, compression="zstd")
    try:
        for batch in table.to_batches(max_chunksize=BATCH_ROWS * 4):
            writer.write_batch(batch)
            yield _drain(sink)
    finally:
        writer.close()
    yield _drain(sink)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def rows_as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of ``table`` as JSON-safe dicts (NaN and infinities become ``null``)."""
    return [{k: _clean(v) for k, v in row.items()} for row in table.to_pylist()]


def stream_geojson(table: pa.Table, fields: Sequence[str]) -> Iterator[bytes]:
    """Yield ``table`` as a GeoJSON FeatureCollection of points, with ``fields`` as properties."""
    yield b'{"type":"FeatureCollection","features":['
    first = True
    for batch in table.to_batches(max_chunksize=BATCH_ROWS // 4):
        parts = []
        for row in rows_as_dicts(pa.Table.from_batches([batch])):
            lon, lat = row.get("lon"), row.get("lat")
            geometry = (
                None if lon is None or lat is None else {"type": "Point", "coordinates": [lon, lat]}
            )
            props = {k: row[k] for k in fields}
            parts.append(json.dumps({"type": "Feature", "geometry": geometry, "properties": props}))
        if parts:
            yield (("" if first else ",") + ",".join(parts)).encode()
            first = False
    yield b"]}"


def stream(selection: Selection, format: HouseholdFormat) -> Iterator[bytes]:
    """Yield the rows of ``selection`` as a CSV, Parquet or GeoJSON file."""
    if format == HouseholdFormat.CSV:
        return stream_csv(selection.table)
    if format == HouseholdFormat.PARQUET:
        return stream_parquet(selection.table)
    return stream_geojson(selection.table, selection.fields)


def json_page(selection: Selection) -> dict[str, Any]:
    """The JSON body of one page of households."""
    return {
        "total": selection.total,
        "offset": selection.offset,
        "limit": selection.limit,
        "fields": selection.fields,
        "items": rows_as_dicts(selection.table),
    }
