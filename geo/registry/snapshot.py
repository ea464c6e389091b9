"""Registry snapshots: validate a registry file once, memory-map its columns forever after.

A snapshot is a folder::

    households.arrow   the valid households, in canonical order (rahat.geo.registry.order),
                       as uncompressed Arrow IPC (Feather v2): one record batch, every column a
                       plain buffer that NumPy and pandas view in place
    rejects.csv        the rows validation rejected, with their reasons (as at import)
    snapshot.json      schema version, sha256 and size of households.arrow, households,
                       rejected rows, bounds, source file name and sha256, creation time
    .lock              taken while the snapshot is written (exclusive) or opened (shared)

:func:`import_registry` builds one (validation, sort, write, all atomic: temporary names and
renames, under the lock, so two processes building the same snapshot cannot corrupt it);
:func:`open_snapshot` memory-maps it without copying a column and without re-validating, after
a cheap check (schema version, file size, Arrow schema); :func:`verify_snapshot` checks the
full sha256. A snapshot that fails a check raises :class:`~rahat.geo.errors.SnapshotError`
and is never used.

Column encoding (chosen so that every column is zero-copy in pandas): numbers in their canonical
dtype; booleans as ``uint8`` 0/1; dates as ``timestamp[s]`` whose nulls hold NaT's bit pattern;
names and codes as dictionaries whose indices have the width pandas uses for the number of
categories and hold -1 under nulls.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rahat.geo.errors import EmptyDataError, SnapshotError
from rahat.geo.files import atomic_write, sha256_file
from rahat.geo.registry.model import Registry
from rahat.geo.registry.partitions import Partition, plan_partitions
from rahat.geo.registry.schema import COLUMNS, COLUMNS_BY_NAME, DATE_DTYPE, Column

#: Version of the snapshot layout; a snapshot of another version is refused (import it again).
SCHEMA_VERSION = 1
#: Files of a snapshot folder.
ARROW_FILE = "households.arrow"
META_FILE = "snapshot.json"
REJECTS_FILE = "rejects.csv"
LOCK_FILE = ".lock"

_AGAIN = "run `rahat registry import` again"


@dataclass(frozen=True)
class SnapshotInfo:
    """What ``snapshot.json`` records about a snapshot.

    Attributes
    ----------
    folder
        The snapshot folder (not stored in the file).
    schema_version
        :data:`SCHEMA_VERSION` when written.
    sha256, size
        Of ``households.arrow``.
    households
        Rows of ``households.arrow`` (valid households).
    rejected
        Rows of the source file that failed validation (listed in ``rejects.csv``).
    total_rows
        Rows of the source file.
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of the households.
    source_name, source_sha256
        The registry file it was imported from.
    created
        UTC time of the import, ISO 8601.
    reason_counts
        Rejected rows per reason.
    ignored_columns
        Columns of the source file that are not part of the registry schema.
    partitions
        Runs of rows along the Hilbert curve a cluster's workers take one each
        (:mod:`rahat.geo.registry.partitions`); empty when not partitioned.
    """

    folder: Path
    schema_version: int
    sha256: str
    size: int
    households: int
    rejected: int
    total_rows: int
    bounds: tuple[float, float, float, float]
    source_name: str
    source_sha256: str
    created: str
    reason_counts: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    partitions: tuple[Partition, ...] = ()

    @property
    def arrow_path(self) -> Path:
        """The column file."""
        return self.folder / ARROW_FILE

    @property
    def rejects_path(self) -> Path:
        """The rejected rows written at import."""
        return self.folder / REJECTS_FILE

    def to_json(self) -> dict[str, object]:
        """Return the ``snapshot.json`` object (JSON-serialisable, without ``folder``)."""
        data = asdict(self)
        data.pop("folder")
        data["bounds"] = list(self.bounds)
        data["ignored_columns"] = list(self.ignored_columns)
        data["partitions"] = [part.to_json() for part in self.partitions]
        return data


def _folder(path: str | Path) -> Path:
    path = Path(path)
    return path.parent if path.name == META_FILE else path


def is_snapshot(path: str | Path) -> bool:
    """Whether ``path`` is a snapshot folder or its ``snapshot.json`` (nothing is checked)."""
    path = Path(path)
    if path.name == META_FILE:
        return path.is_file()
    return path.is_dir() and (path / META_FILE).is_file()


def _write_problem(folder: Path, exc: OSError) -> SnapshotError:
    """A clear error for a snapshot folder that cannot be written."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk holding it is full; free space or choose another folder"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = (
            "it is read-only (permission denied or a read-only file system); choose a writable "
            "folder (--out, or RAHAT_CACHE_DIR for the cache)"
        )
    else:
        why = f"{exc.strerror or exc}; choose another folder"
    return SnapshotError(f"cannot write the registry snapshot here: {why}", source=folder)


@contextlib.contextmanager
def locked(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the snapshot folder's lock: exclusive to write it, shared to open it.

    A shared lock on a folder that cannot be written (no lock file, read-only) is skipped:
    nobody can be writing there either.
    """
    lock = folder / LOCK_FILE
    try:
        if exclusive:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        else:
            fd = os.open(lock, os.O_RDONLY)
    except OSError as exc:
        if exclusive:
            raise _write_problem(folder, exc) from None
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


# ---------------------------------------------------------------------------------- encoding


def _index_type(n_categories: int) -> np.dtype:
    """The integer width pandas uses for the codes of ``n_categories`` categories."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _plain_type(spec: Column) -> pa.DataType | None:
    """The Arrow type of a non-categorical column (``None`` for categoricals)."""
    if spec.kind == "bool":
        return pa.uint8()
    if spec.kind == "date":
        return pa.timestamp("s")
    if spec.kind == "category":
        return None
    assert spec.dtype is not None
    return pa.from_numpy_dtype(spec.dtype)


def _validity(missing: np.ndarray) -> tuple[pa.Buffer | None, int]:
    count = int(missing.sum())
    if not count:
        return None, 0
    return pa.py_buffer(np.packbits(~missing, bitorder="little")), count


def _encode(spec: Column, column: pd.Series) -> pa.Array:
    """One column as an Arrow array whose data buffer is the pandas column's bytes."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = [str(c) for c in column.cat.categories]
        codes = np.ascontiguousarray(column.array.codes, dtype=_index_type(len(categories)))
        validity, nulls = _validity(codes < 0)
        indices = pa.Array.from_buffers(
            pa.from_numpy_dtype(codes.dtype), len(codes), [validity, pa.py_buffer(codes)], nulls
        )
        return pa.DictionaryArray.from_arrays(
            indices, pa.array(categories, pa.string()), safe=False
        )
    arrow_type = _plain_type(spec)
    assert arrow_type is not None
    if spec.kind == "bool":
        values = np.ascontiguousarray(column.to_numpy(dtype=bool)).view(np.uint8)
        missing = np.zeros(len(values), dtype=bool)
    elif spec.kind == "date":
        dates = np.ascontiguousarray(column.to_numpy(dtype=DATE_DTYPE))
        missing, values = np.isnat(dates), dates.view(np.int64)
    else:
        assert spec.dtype is not None
        values = np.ascontiguousarray(column.to_numpy(dtype=spec.dtype))
        missing = np.zeros(len(values), dtype=bool)  # NaN is a value: no bitmap
    validity, nulls = _validity(missing)
    return pa.Array.from_buffers(arrow_type, len(values), [validity, pa.py_buffer(values)], nulls)


def _expected_type(name: str, field_type: pa.DataType) -> pa.DataType | None:
    """The type column ``name`` must have (dictionaries: index width from the file)."""
    spec = COLUMNS_BY_NAME.get(name)
    if spec is None:
        return None
    plain = _plain_type(spec)
    if plain is not None:
        return plain
    if not pa.types.is_dictionary(field_type):
        return pa.dictionary(pa.int8(), pa.string())
    return field_type if field_type.value_type == pa.string() else None


def _check_schema(schema: pa.Schema, folder: Path) -> None:
    names = schema.names
    known = [c.name for c in COLUMNS if c.name in names]
    missing = [c.name for c in COLUMNS if c.required and c.name not in names]
    if names != known or missing:
        raise SnapshotError(
            f"{ARROW_FILE} has columns {names}, not the registry's (missing: {missing}); {_AGAIN}",
            source=folder,
        )
    for item in schema:
        expected = _expected_type(item.name, item.type)
        if expected is None or item.type != expected:
            raise SnapshotError(
                f"{ARROW_FILE}: column {item.name} is {item.type}, expected {expected}; {_AGAIN}",
                source=folder,
            )


def buffer_view(chunk: pa.Array, dtype: np.dtype) -> np.ndarray:
    """The data buffer of a plain Arrow array as a read-only NumPy array (no copy)."""
    buffer = chunk.buffers()[1]
    return np.frombuffer(
        buffer, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
    )


def _decode(spec: Column, column: pa.ChunkedArray, folder: Path) -> object:
    """One Arrow column as a zero-copy NumPy array or pandas categorical."""
    if column.num_chunks != 1:
        raise SnapshotError(f"{ARROW_FILE} is not one record batch; {_AGAIN}", source=folder)
    chunk = column.chunk(0)
    if isinstance(chunk, pa.DictionaryArray):
        codes = buffer_view(chunk.indices, np.dtype(chunk.type.index_type.to_pandas_dtype()))
        categories = pd.Index(chunk.dictionary.to_pylist(), dtype="str")
        if len(codes) and (codes.max() >= len(categories) or codes.min() < -1):
            raise SnapshotError(
                f"{ARROW_FILE}: column {spec.name} is corrupt; {_AGAIN}", source=folder
            )
        dtype = pd.CategoricalDtype(categories, ordered=False)
        return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
    if spec.kind == "bool":
        return buffer_view(chunk, np.dtype(np.uint8)).view(bool)
    if spec.kind == "date":
        return buffer_view(chunk, np.dtype(np.int64)).view(DATE_DTYPE)
    assert spec.dtype is not None
    return buffer_view(chunk, spec.dtype)


# ---------------------------------------------------------------------------------- reading


def read_info(folder: str | Path) -> SnapshotInfo:
    """Read and check ``snapshot.json`` and the size of ``households.arrow`` (cheap).

    Raises
    ------
    SnapshotError
        If ``snapshot.json`` is missing or unreadable, of another schema version, or the
        column file is missing or not of the recorded size (truncated, grown, replaced).
    """
    folder = _folder(folder)
    meta = folder / META_FILE
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        raise SnapshotError(
            f"not a registry snapshot (no {META_FILE}); {_AGAIN}", source=folder
        ) from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{META_FILE} is unreadable ({exc}); {_AGAIN}", source=folder) from None
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SnapshotError(
            f"snapshot schema version {version!r}, this Rahat reads version {SCHEMA_VERSION}; "
            f"{_AGAIN}",
            source=folder,
        )
    try:
        info = SnapshotInfo(
            folder=folder,
            **{
                **data,
                "bounds": tuple(float(b) for b in data["bounds"]),
                "ignored_columns": tuple(data.get("ignored_columns", ())),
                "partitions": tuple(Partition.from_json(p) for p in data.get("partitions", ())),
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{META_FILE} is incomplete ({exc}); {_AGAIN}", source=folder) from None
    try:
        size = info.arrow_path.stat().st_size
    except OSError:
        raise SnapshotError(f"{ARROW_FILE} is missing; {_AGAIN}", source=folder) from None
    if size != info.size:
        raise SnapshotError(
            f"{ARROW_FILE} is {size:,} bytes, the snapshot recorded {info.size:,} (truncated or "
            f"changed); {_AGAIN}",
            source=folder,
        )
    return info


def load_snapshot(folder: str | Path, *, lock: bool = True) -> tuple[Registry, SnapshotInfo]:
    """Memory-map a snapshot's households and return them with its :class:`SnapshotInfo`.

    See :func:`open_snapshot`. ``lock=False`` is for a caller that holds the folder's lock.
    """
    folder = _folder(folder)
    with locked(folder, exclusive=False) if lock else contextlib.nullcontext():
        info = read_info(folder)
        try:
            table = pa.ipc.open_file(pa.memory_map(str(info.arrow_path), "r")).read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            raise SnapshotError(
                f"{ARROW_FILE} is not a readable Arrow file ({str(exc)[:200]}); {_AGAIN}",
                source=folder,
            ) from None
    _check_schema(table.schema, folder)
    if table.num_rows != info.households:
        raise SnapshotError(
            f"{ARROW_FILE} holds {table.num_rows:,} rows, the snapshot recorded "
            f"{info.households:,}; {_AGAIN}",
            source=folder,
        )
    columns = {
        name: _decode(COLUMNS_BY_NAME[name], table.column(name), folder)
        for name in table.column_names
    }
    frame = pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)
    # the source is snapshot.json: it pins the column file's sha256 and the source file's,
    # and run manifests hash it instead of gigabytes of columns
    registry = Registry(frame=frame, source=str(folder / META_FILE), snapshot_sha256=info.sha256)
    return registry, info


def open_snapshot(folder: str | Path) -> Registry:
    """Memory-map a snapshot's households: no copy of a column, no re-validation.

    The cheap checks of :func:`read_info` run first, then the Arrow schema and row count are
    checked; the full hash is :func:`verify_snapshot`'s job. Pages are read from disk when a
    column is first touched.

    Parameters
    ----------
    folder
        Snapshot folder, or its ``snapshot.json``.

    Returns
    -------
    Registry
        The households in canonical order (:func:`rahat.geo.registry.order.canonical_order`),
        their arrays read-only views of the mapped file; its ``source`` is the snapshot's
        ``snapshot.json`` (which records the column file's and the source file's sha256).

    Raises
    ------
    SnapshotError
        If any check fails.
    """
    return load_snapshot(folder)[0]


def verify_snapshot(folder: str | Path) -> SnapshotInfo:
    """Check a snapshot completely: the cheap checks, the Arrow schema and the full sha256.

    Raises
    ------
    SnapshotError
        If anything does not match what ``snapshot.json`` records.
    """
    folder = _folder(folder)
    with locked(folder, exclusive=False):
        _, info = load_snapshot(folder, lock=False)
        digest = sha256_file(info.arrow_path)
    if digest != info.sha256:
        raise SnapshotError(
            f"{ARROW_FILE} has sha256 {digest[:16]}..., the snapshot recorded "
            f"{info.sha256[:16]}... (corrupt or changed); {_AGAIN}",
            source=folder,
        )
    return info


# ---------------------------------------------------------------------------------- writing


def _write_arrow(registry: Registry, path: Path) -> None:
    frame = registry.frame
    arrays = [_encode(COLUMNS_BY_NAME[c.name], frame[c.name]) for c in COLUMNS if c.name in frame]
    names = [c.name for c in COLUMNS if c.name in frame]
    schema = pa.schema(
        [pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)],
        metadata={b"rahat:snapshot_schema_version": str(SCHEMA_VERSION).encode()},
    )
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    options = pa.ipc.IpcWriteOptions(compression=None)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema, options=options) as w:
        w.write_batch(batch)


def import_registry(
    path: str | Path,
    out_dir: str | Path,
    *,
    rejects_path: str | Path | None = None,
    source_sha256: str | None = None,
    partitions: int = 1,
) -> SnapshotInfo:
    """Validate a registry file once and write it as a snapshot folder.

    Rejected rows are written to ``out_dir/rejects.csv`` (and to ``rejects_path`` when given),
    as ``rahat registry validate`` writes them. Households are put in canonical order. Every
    file is written under a temporary name and renamed; the folder is locked meanwhile, and
    ``snapshot.json``, the snapshot's commit mark, is removed first and written last.

    Parameters
    ----------
    path
        Registry file (GeoParquet, Parquet, Feather or CSV).
    out_dir
        Snapshot folder (created; a snapshot already there is replaced).
    rejects_path
        Also write the rejected rows here.
    source_sha256
        The sha256 of ``path`` when the caller has it already.
    partitions
        Above 1, list that many runs of rows along the Hilbert curve in ``snapshot.json``
        (:func:`rahat.geo.registry.partitions.plan_partitions`), for a cluster's workers.

    Returns
    -------
    SnapshotInfo

    Raises
    ------
    EmptyDataError
        If no row is valid (the rejects are written first).
    SnapshotError
        If the folder cannot be written (read-only, disk full).
    """
    folder = Path(out_dir)
    with locked(folder, exclusive=True):
        return build_locked(
            Path(path),
            folder,
            rejects_path=rejects_path,
            source_sha256=source_sha256,
            partitions=partitions,
        )


def build_locked(
    path: Path,
    folder: Path,
    *,
    rejects_path: str | Path | None = None,
    source_sha256: str | None = None,
    partitions: int = 1,
) -> SnapshotInfo:
    """:func:`import_registry` for a caller that holds the folder's exclusive lock."""
    from rahat.geo.registry.order import canonical_order
    from rahat.geo.registry.validate import read_registry

    report = read_registry(path)
    source_digest = source_sha256 or sha256_file(path)
    try:
        (folder / META_FILE).unlink(missing_ok=True)
        report.write_rejects(folder / REJECTS_FILE)
    except OSError as exc:
        raise _write_problem(folder, exc) from None
    if rejects_path is not None:
        atomic_write(rejects_path, lambda tmp: shutil.copyfile(folder / REJECTS_FILE, tmp))
    try:
        if report.n_valid == 0:
            raise EmptyDataError(
                f"no valid household in the registry ({report.empty_reason()}); run "
                "`rahat registry validate` to see why",
                source=path,
            )
        registry = canonical_order(report.registry)
        atomic_write(folder / ARROW_FILE, lambda tmp: _write_arrow(registry, tmp))
        info = SnapshotInfo(
            folder=folder,
            schema_version=SCHEMA_VERSION,
            sha256=sha256_file(folder / ARROW_FILE),
            size=(folder / ARROW_FILE).stat().st_size,
            households=len(registry),
            rejected=report.n_rejected,
            total_rows=report.total_rows,
            bounds=registry.bounds(),
            source_name=path.name,
            source_sha256=source_digest,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            reason_counts=dict(report.reason_counts),
            ignored_columns=tuple(report.ignored_columns),
            partitions=plan_partitions(registry, partitions) if partitions > 1 else (),
        )
        text = json.dumps(info.to_json(), indent=2)
        atomic_write(folder / META_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise _write_problem(folder, exc) from None
    return info
