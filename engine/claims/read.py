"""Read a claims CSV and turn its CNICs and phones into tokens at once.

Columns (header names are matched without case or surrounding spaces; others are ignored):

``cnic``
    Required: 13 digits, with or without dashes. An invalid one gets token 0.
``phone``
    Optional: a Pakistani number in any usual form; an invalid one is counted and ignored.
``stated_district``, ``stated_tehsil``
    Optional: where the claimant says the household lives, as a P-code (the registry's
    ``district_pcode`` / ``tehsil_pcode``) or a name (``district`` / ``tehsil``); both forms
    are accepted, compared without case.
``lon``, ``lat``
    Optional: a WGS 84 location; a value that is not a number in range is counted and ignored.
``date``
    Optional: the claim's date, ``YYYY-MM-DD``; an unreadable one is counted.
``name``, ``address``
    Optional: the claimant's name and address as written, used only to group probable
    duplicates among claimants not in the registry (kept as text, never written out); one
    longer than :data:`MAX_TEXT_CHARS` characters is not used, and counted.

The raw CNIC and phone text exists only inside :func:`read_claims`: what it returns holds tokens
(keyed hashes, :mod:`rahat.geo.registry.identity`) and never a number, and no error message
quotes a cell. A file that is not a CSV, lacks the ``cnic`` column, is empty, or is larger than
:data:`MAX_BYTES` or :data:`MAX_ROWS` is refused whole.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from rahat.geo.errors import SchemaError, TooLargeError, UnreadableFileError
from rahat.geo.registry.identity import cnic_tokens, phone_tokens

#: Largest claims file read, in bytes (a million claims take about 60 MB).
MAX_BYTES = 512 * 1024**2
#: Most claims in one file.
MAX_ROWS = 5_000_000
#: Longest name or address used (a longer one is not used, and counted as rejected).
MAX_TEXT_CHARS = 160
#: Columns a claims file may have; ``cnic`` is required.
CLAIM_COLUMNS: tuple[str, ...] = (
    "cnic",
    "phone",
    "stated_district",
    "stated_tehsil",
    "lon",
    "lat",
    "date",
    "name",
    "address",
)


@dataclass(frozen=True)
class Claims:
    """A batch of claims with tokens in place of numbers, one entry per row of the file.

    Attributes
    ----------
    row
        1-based row number in the file (the header is row 0).
    cnic_token, cnic_valid
        CNIC token (0 where invalid) and whether the CNIC was valid.
    phone_token
        Phone token, 0 where absent or invalid.
    stated_district, stated_tehsil
        Stated units as written (stripped), ``""`` where not given (object arrays).
    lon, lat
        Location, NaN where not given or invalid.
    name, address
        Claimant's name and address as written (stripped), ``""`` where not given (object
        arrays).
    rejected
        Rows with a field that was given but could not be read, by field (the field is ignored;
        an invalid CNIC is a decision, counted there).
    """

    row: np.ndarray
    cnic_token: np.ndarray
    cnic_valid: np.ndarray
    phone_token: np.ndarray
    stated_district: np.ndarray
    stated_tehsil: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    name: np.ndarray
    address: np.ndarray
    rejected: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row)


def _parse_arrow(path: Path) -> pd.DataFrame:
    """Every column of a well-formed CSV as text (``""`` where empty), by Arrow's reader.

    Arrow reads on all cores, about ten times faster than pandas; it refuses a file with a
    ragged row or text that is not UTF-8 (:class:`pyarrow.ArrowException`), which pandas then
    reads to say where.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)) as reader:
        names = reader.schema.names  # the header (the first block's types are not kept)
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pacsv.read_csv(path, convert_options=options).to_pandas()


def _read_frame(path: Path, max_bytes: int, max_rows: int) -> pd.DataFrame:
    """The file as text columns, refused whole if it is too large or not a CSV."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFileError(
            f"cannot read the claims file ({exc.strerror})", source=path
        ) from None
    if size > max_bytes:
        raise TooLargeError(
            f"the claims file is {size:,} bytes; at most {max_bytes:,} are read at once: split it",
            source=path,
        )
    try:
        frame = _parse_arrow(path)
    except (ArrowException, OSError, UnicodeDecodeError):  # pandas says what is wrong, where
        frame = None
    try:
        if frame is None:
            with warnings.catch_warnings():
                # rows longer than the header: refused, never read as an index or cut short
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    encoding="utf-8",
                    nrows=max_rows + 1,
                    index_col=False,
                )
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
    ) as exc:
        line = (
            re.search(r"line (\d+)", str(exc)) if isinstance(exc, pd.errors.ParserError) else None
        )
        where = f" at line {line.group(1)}" if line else ""
        raise UnreadableFileError(
            f"not a readable UTF-8 CSV{where} ({type(exc).__name__}); give one header row and one "
            "claim per row",
            source=path,
        ) from None
    if len(frame) > max_rows:
        raise TooLargeError(
            f"more than {max_rows:,} claims; at most {max_rows:,} are checked at once: split it",
            source=path,
        )
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "cnic" not in frame.columns:
        raise SchemaError(
            "no 'cnic' column; the columns are " + ", ".join(CLAIM_COLUMNS) + " (cnic required)",
            source=path,
        )
    if frame.columns.duplicated().any():
        raise SchemaError("a column name appears twice", source=path)
    if len(frame) == 0:
        raise SchemaError("no claims: the file has a header only", source=path)
    return frame


def _coordinate(frame: pd.DataFrame, name: str, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """A coordinate column as float (NaN where absent or bad) and where it was given but bad."""
    if name not in frame.columns:
        n = len(frame)
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    text = frame[name].str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = ~np.isfinite(values) | (np.abs(values) > limit)
    given = (text != "").to_numpy()
    values[bad] = np.nan
    return values, bad & given


def _bounded_text(frame: pd.DataFrame, name: str, rejected: dict[str, int]) -> np.ndarray:
    """:func:`_text`, a value longer than :data:`MAX_TEXT_CHARS` blanked and counted.

    Names and addresses are compared pair by pair (:mod:`rahat.engine.claims.duplicates`) at
    a cost that grows with their length squared: no real one is that long.
    """
    if name not in frame.columns:
        return _text(frame, name)
    column = frame[name].str.strip()
    long = (column.str.len() > MAX_TEXT_CHARS).to_numpy(dtype=bool)  # Arrow's, vectorised
    text = column.to_numpy(dtype=object).copy()  # to_numpy may answer a read-only view
    text[long] = ""
    rejected[name] = int(long.sum())
    return text


def _text(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column's values, stripped, as objects (``""`` for every row when absent)."""
    if name not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    return frame[name].str.strip().to_numpy(dtype=object)


def read_claims(
    path: str | Path,
    secret: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> Claims:
    """Read a claims CSV; return its claims with CNICs and phones as tokens.

    Parameters
    ----------
    path
        The claims CSV (see the module's documentation for its columns).
    secret
        The deployment's identity secret
        (:func:`rahat.geo.registry.identity.secret_from_env`).
    max_bytes, max_rows
        Size bounds; a larger file is refused whole.

    Returns
    -------
    Claims
        One entry per row, in file order, with no raw number.

    Raises
    ------
    rahat.geo.errors.InputError
        For a file that cannot be read, lacks ``cnic``, is empty or too large; the message
        never quotes a cell.
    """
    return claims_from_frame(_read_frame(Path(path), max_bytes, max_rows), secret)


def claims_from_frame(frame: pd.DataFrame, secret: bytes) -> Claims:
    """Tokenise a table of claims already read as text; return its claims.

    The one path from claims' text to :class:`Claims`, used by :func:`read_claims` and by the
    API (``POST /claims``), which builds the table from a JSON body.

    Parameters
    ----------
    frame
        One row per claim, columns among :data:`CLAIM_COLUMNS` named in lower case (``cnic``
        required), every value a string (``""`` where not given). The ``cnic`` and ``phone``
        columns are removed from it.
    secret
        The deployment's identity secret
        (:func:`rahat.geo.registry.identity.secret_from_env`).

    Returns
    -------
    Claims
        One entry per row, in order (``row`` numbered from 1), with no raw number.
    """
    cnic, cnic_valid = cnic_tokens(frame.pop("cnic"), secret)
    phone_text = frame.pop("phone") if "phone" in frame.columns else None
    rejected = {"phone": 0, "location": 0, "date": 0, "name": 0, "address": 0}
    if phone_text is None:
        phone = np.zeros(len(frame), dtype=np.int64)
    else:
        phone, phone_valid = phone_tokens(phone_text, secret)
        rejected["phone"] = int(((phone_text.str.strip() != "").to_numpy() & ~phone_valid).sum())
    del phone_text
    lon, bad_lon = _coordinate(frame, "lon", 180.0)
    lat, bad_lat = _coordinate(frame, "lat", 90.0)
    missing = np.isnan(lon) | np.isnan(lat)
    rejected["location"] = int((bad_lon | bad_lat).sum())
    lon[missing], lat[missing] = np.nan, np.nan
    if "date" in frame.columns:
        text = frame["date"].str.strip()
        dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        rejected["date"] = int((dates.isna() & (text != "")).sum())
    return Claims(
        row=np.arange(1, len(frame) + 1, dtype=np.int64),
        cnic_token=cnic,
        cnic_valid=cnic_valid,
        phone_token=phone,
        stated_district=_text(frame, "stated_district"),
        stated_tehsil=_text(frame, "stated_tehsil"),
        lon=lon,
        lat=lat,
        name=_bounded_text(frame, "name", rejected),
        address=_bounded_text(frame, "address", rejected),
        rejected=rejected,
    )
