"""Validate a registry table row by row, losing nothing.

Rows that pass every check become the :class:`~rahat.geo.registry.model.Registry`; every
other row goes to the rejects table with all of its reasons. A problem that makes the whole
file unusable (missing required columns) raises :class:`~rahat.geo.errors.SchemaError` instead.
All checks are vectorised over columns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rahat.geo.errors import EmptyDataError, SchemaError
from rahat.geo.files import atomic_write
from rahat.geo.registry import plausibility as plausibility_checks
from rahat.geo.registry.identity import tokenise_table
from rahat.geo.registry.io import read_notes, read_table
from rahat.geo.registry.model import Registry
from rahat.geo.registry.schema import (
    COLUMNS,
    DATE_DTYPE,
    MEMBER_COUNT_COLUMNS,
    REQUIRED_COLUMNS,
    Column,
)

_TRUE = ("true", "t", "yes", "y", "1")
_UNIT_COLUMNS = ("province", "district", "tehsil", "district_pcode", "tehsil_pcode")

#: Reason for a point outside Pakistan (its boundary plus a small buffer).
OUTSIDE_COUNTRY = (
    f"lon/lat: outside Pakistan (more than {plausibility_checks.COUNTRY_BUFFER_DEG:g} degree "
    "beyond its border)"
)
_FALSE = ("false", "f", "no", "n", "0")


@dataclass
class _Checks:
    """Collects (mask, reason) pairs; a row is rejected if any mask is true.

    A mask is a boolean array over all rows, or the sorted positions of the rows it hits
    (for reasons that name a value, of which there may be many, each hitting few rows).
    """

    n: int
    items: list[tuple[np.ndarray, str]] = field(default_factory=list)

    def add(self, mask: np.ndarray, reason: str) -> None:
        if mask.any():
            self.items.append((mask, reason))

    def add_rows(self, rows: np.ndarray, reason: str) -> None:
        if len(rows):
            self.items.append((rows, reason))

    def count(self, mask: np.ndarray) -> int:
        return int(mask.sum()) if mask.dtype == bool else len(mask)

    def rejected(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self.items:
            if mask.dtype == bool:
                out |= mask
            else:
                out[mask] = True
        return out

    def reasons(self, rows: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), "", dtype=object)
        for mask, reason in self.items:
            # positions: every one is a rejected row, so it is in ``rows``
            hit = np.flatnonzero(mask[rows]) if mask.dtype == bool else np.searchsorted(rows, mask)
            out[hit] = np.where(out[hit] == "", reason, out[hit] + "; " + reason)
        return out


@dataclass(frozen=True)
class LoadReport:
    """Outcome of reading and validating a registry file.

    Attributes
    ----------
    registry
        The valid households.
    rejects
        One row per rejected input row: ``row`` (0-based position in the file),
        ``household_id`` (as given, text) and ``reason`` (all reasons, ``;``-separated).
    reason_counts
        Number of rejected rows per reason (a row with two reasons counts under both).
    total_rows
        Rows in the input.
    ignored_columns
        Input columns that are not part of the registry schema.
    flagged
        Kept households worth a look, one row per household and flag: ``row``,
        ``household_id`` (as given, text) and ``flag`` (for example a point that lies outside
        the recorded district; see :mod:`rahat.geo.registry.plausibility`).
    flag_counts
        Number of kept households per flag.
    notes
        What reading the file changed (for example 3-D points reduced to lon/lat).
    """

    registry: Registry
    rejects: pd.DataFrame
    reason_counts: dict[str, int]
    total_rows: int
    ignored_columns: tuple[str, ...] = ()
    flagged: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"row": pd.Series(dtype="int64"), "household_id": [], "flag": []}
        )
    )
    flag_counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def write_flags(self, path: str | Path) -> Path:
        """Write the flagged (kept) households as CSV, atomically."""
        path = Path(path)
        atomic_write(path, lambda tmp: self.flagged.to_csv(tmp, index=False))
        return path

    @property
    def n_valid(self) -> int:
        """Number of households loaded."""
        return len(self.registry)

    @property
    def n_rejected(self) -> int:
        """Number of input rows rejected."""
        return len(self.rejects)

    def empty_reason(self) -> str | None:
        """Return why the registry holds no household (no rows, every row rejected), or None."""
        if self.n_valid:
            return None
        if self.total_rows == 0:
            return "the registry holds no households (the file has no rows)"
        return (
            f"all {self.total_rows:,} rows were rejected, so the registry holds no households "
            "(every reason is in the rejects file)"
        )

    def require_households(self) -> None:
        """Raise :class:`~rahat.geo.errors.EmptyDataError` if no household is valid."""
        reason = self.empty_reason()
        if reason is not None:
            raise EmptyDataError(reason, source=self.registry.source)

    def write_rejects(self, path: str | Path) -> Path:
        """Write the rejects table as CSV, atomically."""
        path = Path(path)
        atomic_write(path, lambda tmp: self.rejects.to_csv(tmp, index=False))
        return path


def _as_float(column: pa.ChunkedArray) -> np.ndarray:
    """Return float64 values; nulls and unparsable text become NaN."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pd.Series(column.to_numpy(zero_copy_only=False))
        return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.int8())
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return np.full(len(column), np.nan)
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def _as_bool(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, invalid) for a boolean column given as bool, 0/1 or text."""
    if pa.types.is_boolean(column.type):
        invalid = column.is_null().to_numpy(zero_copy_only=False)
        values = pc.fill_null(column, False).to_numpy(zero_copy_only=False)
        return values.astype(bool), invalid
    text = pc.utf8_lower(pc.cast(column, pa.string()))
    is_true = pc.fill_null(pc.is_in(text, pa.array(_TRUE)), False).to_numpy(zero_copy_only=False)
    is_false = pc.fill_null(pc.is_in(text, pa.array(_FALSE)), False).to_numpy(zero_copy_only=False)
    return is_true, ~(is_true | is_false)


def _as_category(column: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    encoded = pc.dictionary_encode(column).combine_chunks()
    return pd.Series(
        pd.Categorical.from_codes(
            pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32),
            categories=encoded.dictionary.to_pylist(),
        )
    )


_INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"
_INT64_MAX = np.iinfo(np.int64).max


def _fits_int64(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where integer text (``_INTEGER_TEXT``) lies in the int64 range, by its digits."""
    trimmed = pc.utf8_trim_whitespace(text)
    negative = pc.starts_with(trimmed, "-")
    digits = pc.utf8_ltrim(pc.replace_substring_regex(trimmed, r"^[+-]", ""), characters="0")
    length = pc.utf8_length(digits)
    limit = pc.if_else(negative, str(_INT64_MAX + 1), str(_INT64_MAX))
    at_limit = pc.and_(pc.equal(length, 19), pc.less_equal(digits, limit))
    return pc.or_(pc.less(length, 19), at_limit)


def _as_int(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (int64 values, missing, fractional, too large) for an integer column, exactly.

    Integer columns and integer text keep every digit (ids above 2**53 stay exact); other
    numbers go through float64 and must be whole. A whole number beyond the int64 range (an
    id of 2**64, a uint64 column) is "too large", its value 0, and never an Arrow error.
    """
    n = len(column)
    if pa.types.is_integer(column.type):
        missing = column.is_null().to_numpy(zero_copy_only=False)
        too_large = np.zeros(n, dtype=bool)
        if pa.types.is_unsigned_integer(column.type) and column.type.bit_width == 64:
            over = pc.fill_null(pc.greater(column, pa.scalar(_INT64_MAX, pa.uint64())), False)
            too_large = np.asarray(over.to_numpy(zero_copy_only=False), dtype=bool)
            column = pc.if_else(over, pa.scalar(0, pa.uint64()), column)
        values = pc.fill_null(pc.cast(column, pa.int64()), 0).to_numpy(zero_copy_only=False)
        return values, missing, np.zeros(n, dtype=bool), too_large
    floats = _as_float(column)
    missing = np.isnan(floats)
    fractional = ~missing & (floats != np.floor(floats))
    in_range = ~missing & ~fractional & (np.abs(floats) < 2.0**63)
    too_large = ~missing & ~fractional & ~in_range
    values = np.zeros(n, dtype=np.int64)
    values[in_range] = floats[in_range].astype(np.int64)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        integer = pc.fill_null(pc.match_substring_regex(column, _INTEGER_TEXT), False)
        exact = pc.and_(integer, pc.fill_null(_fits_int64(column), False))
        parsed = pc.cast(pc.if_else(exact, pc.utf8_trim_whitespace(column), None), pa.int64())
        use = np.asarray(exact.to_numpy(zero_copy_only=False), dtype=bool)
        values[use] = pc.fill_null(parsed, 0).to_numpy(zero_copy_only=False)[use]
        too_large[use] = False
    return values, missing, fractional, too_large


def _check_range(spec: Column, values: np.ndarray, present: np.ndarray, checks: _Checks) -> None:
    if spec.minimum is None and spec.maximum is None:
        return
    low = spec.minimum if spec.minimum is not None else -np.inf
    high = spec.maximum if spec.maximum is not None else np.inf
    checks.add(
        present & ((values < low) | (values > high)),
        f"{spec.name}: outside {spec.minimum:g}..{spec.maximum:g}"
        if spec.maximum is not None
        else f"{spec.name}: below {spec.minimum:g}",
    )


def _not_empty(column: pa.ChunkedArray) -> np.ndarray:
    """Return True where a raw value is present (not null, not blank text)."""
    present = column.is_valid()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        blank = pc.equal(pc.utf8_trim_whitespace(column), "")
        present = pc.and_(present, pc.invert(pc.fill_null(blank, True)))
    return np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool)


def _check_numeric(spec: Column, column: pa.ChunkedArray, checks: _Checks) -> np.ndarray:
    if spec.kind == "int":
        values, missing, fractional, too_large = _as_int(column)
        checks.add(fractional, f"{spec.name}: not a whole number")
        checks.add(too_large, f"{spec.name}: too large (beyond the 64-bit integer range)")
        present = ~missing & ~fractional & ~too_large
    else:
        values = _as_float(column)
        missing = np.isnan(values)
        present = ~missing
    if spec.nullable:  # empty is allowed; text that is not a number is not
        missing = missing & _not_empty(column)
    checks.add(missing, f"{spec.name}: missing or not a number")
    _check_range(spec, values, present, checks)
    return values


def _check_column(
    spec: Column, column: pa.ChunkedArray, checks: _Checks, data: dict[str, object]
) -> None:
    """Check one column, add its reasons to ``checks`` and its canonical values to ``data``."""
    if spec.kind in ("int", "float"):
        data[spec.name] = _check_numeric(spec, column, checks)
    elif spec.kind == "bool":
        values, invalid = _as_bool(column)
        checks.add(invalid, f"{spec.name}: not true/false")
        data[spec.name] = values
    elif spec.kind == "date":
        text = column.to_pandas()
        dates = pd.to_datetime(text, errors="coerce", format="mixed")
        bad = dates.isna().to_numpy()
        if spec.nullable:
            bad = bad & text.notna().to_numpy()
        checks.add(bad, f"{spec.name}: not a date")
        data[spec.name] = dates.astype(DATE_DTYPE)
    else:
        series = _as_category(column)
        if not spec.nullable:
            checks.add(series.isna().to_numpy(), f"{spec.name}: missing")
        if spec.categories is not None:
            unknown = ~series.isin(spec.categories).to_numpy() & series.notna().to_numpy()
            checks.add(unknown, f"{spec.name}: not one of {', '.join(spec.categories)}")
        data[spec.name] = series


def validate_table(
    table: pa.Table, source: str | None = None, *, plausibility: bool = True
) -> LoadReport:
    """Validate an Arrow table of households.

    Parameters
    ----------
    table
        Raw table, for example from :func:`rahat.geo.registry.io.read_table`.
    source
        Name of the input, for messages.
    plausibility
        Also reject points outside Pakistan and admin units unknown to the gazetteer, and flag
        points outside their recorded district (:mod:`rahat.geo.registry.plausibility`).
        Switch off only for synthetic tables that use made-up units.

    Returns
    -------
    LoadReport

    Raises
    ------
    SchemaError
        If required columns are missing.
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if len(missing) == len(REQUIRED_COLUMNS):
        raise SchemaError(
            "no registry columns found; is this a household registry? Expected columns: "
            + ", ".join(REQUIRED_COLUMNS),
            source=source,
        )
    if missing:
        raise SchemaError(
            f"missing required column(s) {', '.join(missing)}; a registry needs "
            f"{', '.join(REQUIRED_COLUMNS)}",
            source=source,
        )
    table = tokenise_table(table, source)  # raw cnic/phone never go further
    n = table.num_rows
    checks = _Checks(n)
    data: dict[str, object] = {}
    for spec in COLUMNS:
        if spec.name not in table.column_names:
            continue
        try:
            _check_column(spec, table.column(spec.name), checks, data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            reason = str(exc).splitlines()[0][:200]
            raise SchemaError(
                f"column {spec.name} holds {table.schema.field(spec.name).type} values that "
                f"Rahat cannot read as {spec.kind} ({reason}); give it as text or numbers",
                source=source,
            ) from None
    size = data["household_size"]
    for name in MEMBER_COUNT_COLUMNS:
        checks.add(np.asarray(data[name]) > np.asarray(size), f"{name}: more than household_size")
    ids = np.asarray(data["household_id"])
    duplicated = pd.Series(ids).duplicated(keep=False).to_numpy() & (ids >= 1)
    checks.add(duplicated, "household_id: duplicate (every row with this id is rejected)")
    flags = _check_plausible(data, n, checks) if plausibility else []

    rejected = checks.rejected()
    keep = np.flatnonzero(~rejected)
    rows = np.flatnonzero(rejected)
    frame = _canonical_frame(data, keep, n)
    household_ids = table.column("household_id")
    raw_ids = household_ids.take(pa.array(rows)).to_pandas().astype("string")
    rejects = pd.DataFrame(
        {"row": rows.astype(np.int64), "household_id": raw_ids, "reason": checks.reasons(rows)}
    )
    counts = Counter({reason: checks.count(mask) for mask, reason in checks.items})
    flagged, flag_counts = _flag_table(flags, rejected, household_ids)
    known = {c.name for c in COLUMNS}
    ignored = tuple(c for c in table.column_names if c not in known)
    return LoadReport(
        registry=Registry.from_frame(frame, source=source),
        rejects=rejects,
        reason_counts=dict(counts.most_common()),
        total_rows=n,
        ignored_columns=ignored,
        flagged=flagged,
        flag_counts=flag_counts,
        notes=(*read_notes(table), *_identity_notes(frame)),
    )


def _identity_notes(frame: pd.DataFrame) -> tuple[str, ...]:
    """A warning when kept households have no valid CNIC (``cnic_token`` 0 or empty)."""
    if "cnic_token" not in frame:
        return ()
    missing = int((frame["cnic_token"].to_numpy() == 0).sum())
    if not missing:
        return ()
    return (
        f"{missing:,} households have no valid CNIC (empty, not 13 digits or a placeholder): "
        "kept with cnic_token 0",
    )


def _check_plausible(
    data: dict[str, object], n: int, checks: _Checks
) -> list[tuple[np.ndarray, str]]:
    """Reject points outside Pakistan and unknown units; return flags for kept rows."""
    units = plausibility_checks.check_units(
        {k: v for k, v in data.items() if k in _UNIT_COLUMNS and isinstance(v, pd.Series)}, n
    )
    for rows, reason in units.rejects:
        checks.add_rows(rows, reason)
    lon = np.asarray(data["lon"], dtype=np.float64)
    lat = np.asarray(data["lat"], dtype=np.float64)
    usable = (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)  # NaN: reported as missing
    lon = np.where(usable, lon, np.nan)
    lat = np.where(usable, lat, np.nan)
    outside, mismatch = plausibility_checks.locate(lon, lat, units.district)
    if outside.any():
        rows = np.flatnonzero(outside)
        swapped = plausibility_checks.inside_country(lat[rows], lon[rows])
        checks.add_rows(rows[~swapped], OUTSIDE_COUNTRY)
        checks.add_rows(rows[swapped], OUTSIDE_COUNTRY + "; lon and lat swapped?")
    flags = [(np.flatnonzero(mismatch), plausibility_checks.LOCATION_FLAG), *units.flags]
    return [(rows, flag) for rows, flag in flags if len(rows)]


def _flag_table(
    flags: list[tuple[np.ndarray, str]], rejected: np.ndarray, household_ids: pa.ChunkedArray
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per kept household and flag, plus counts per flag."""
    parts = []
    counts: dict[str, int] = {}
    for rows, flag in flags:
        kept = rows[~rejected[rows]]
        if len(kept):
            counts[flag] = len(kept)
            parts.append((kept, flag))
    rows = np.concatenate([r for r, _ in parts]) if parts else np.empty(0, dtype=np.int64)
    labels = np.concatenate(
        [np.full(len(r), f, dtype=object) for r, f in parts] or [np.empty(0, dtype=object)]
    )
    order = np.argsort(rows, kind="stable")
    rows = rows[order].astype(np.int64)
    table = pd.DataFrame(
        {
            "row": rows,
            "household_id": household_ids.take(pa.array(rows)).to_pandas().astype("string"),
            "flag": labels[order],
        }
    )
    return table, dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _canonical_frame(data: dict[str, object], keep: np.ndarray, n: int) -> pd.DataFrame:
    """Build the registry frame from the kept rows (no copy when every row is kept)."""
    every_row = len(keep) == n
    columns: dict[str, object] = {}
    for spec in COLUMNS:
        if spec.name not in data:
            continue
        values = data[spec.name]
        if isinstance(values, pd.Series):
            taken = values if every_row else values.take(keep).reset_index(drop=True)
            if spec.categories is not None:  # closed set: stable codes across files
                taken = taken.cat.set_categories(spec.categories)
            elif spec.kind == "category" and not every_row:
                taken = taken.cat.remove_unused_categories()
            columns[spec.name] = taken
        else:
            array = np.asarray(values) if every_row else np.asarray(values)[keep]
            columns[spec.name] = (
                array.astype(spec.dtype, copy=False) if spec.dtype is not None else array
            )
    return pd.DataFrame(columns)


def read_registry(path: str | Path, rejects_path: str | Path | None = None) -> LoadReport:
    """Read and validate a registry file.

    Parameters
    ----------
    path
        GeoParquet, Parquet, Feather/Arrow or CSV file (see :mod:`rahat.geo.registry.io`).
    rejects_path
        Where to write the rejected rows (CSV). Written whenever given, even if empty, so a
        caller can always find it.

    Returns
    -------
    LoadReport
        Valid households, rejected rows with reasons, and counts.

    Raises
    ------
    UnreadableFileError
        If the file cannot be read at all.
    SchemaError
        If required columns are missing.

    Examples
    --------
    >>> from rahat.geo.paths import repo_root
    >>> samples = repo_root() / "data" / "samples"
    >>> report = read_registry(samples / "registry_sample.csv")
    >>> len(report.registry), report.n_rejected  # rows that fail validation are counted, not kept
    (34, 6)
    """
    table = read_table(path)
    report = validate_table(table, source=str(path))
    if rejects_path is not None:
        report.write_rejects(rejects_path)
    return report
