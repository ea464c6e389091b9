"""Stored exposures: the overlay of a registry snapshot, written once and memory-mapped after.

Overlaying millions of households with hazard rasters and zone polygons costs seconds to
minutes; the same snapshot is overlaid with the same files by every run, API job and what-if.
:func:`load_exposure` and :func:`store_exposure` keep an :class:`~rahat.engine.exposure.Exposure`
under ``<cache_dir()>/exposures/``, keyed (:func:`exposure_key`) by the sha256 of

* the snapshot's column file (:attr:`rahat.geo.registry.model.Registry.snapshot_sha256`),
* each hazard layer's name, file sha256, kind, units, CRS, classification (so a scenario's
  ``classes`` override is a new key), grid or footprint identity and reader options,
* how each layer is sampled (radius, reducer, per-household GPS accuracy),
* the zone layers: the bundled admin and climate files' hashes, or each user zone file's
  sha256 with its options,
* the sources of the modules that compute an overlay, and :data:`SCHEMA_VERSION`.

Each entry is two files:

* ``<key>.<digest>.arrow``: uncompressed Arrow IPC, one record batch, one column per array
  (intensity and class of each hazard, codes of each zone layer), memory-mapped when loaded
  (no copy); the zone tables and the hazards' labels ride in its schema metadata;
* ``<key>.json``: schema version, key, the Arrow file's name, length, households and
  chunked sha256 (:func:`tree_sha256`, hashed on all cores).

Both are written under unique temporary names and renamed (atomic on one file system), the
sidecar last: two processes building the same exposure each write whole files, and the last
rename wins. An entry is used only when its sidecar parses, has this schema version and key,
and the Arrow file has the recorded length, hash, household count and columns; anything else
(truncated, corrupted, older) is logged and rebuilt. Entries are evicted least recently used
first (a load touches the sidecar) once their total size passes ``RAHAT_EXPOSURE_CACHE_MB``.
A cache folder that cannot be written (read-only, disk full) never fails a run: the exposure
is used from memory, not stored, and a warning names the folder and the reason.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.engine.exposure import Exposure, HazardExposure, ZoneExposure
from rahat.geo.errors import InputError
from rahat.geo.sidecar import read_sidecar

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rahat.engine.targeting.scenario import Scenario
    from rahat.geo.hazards import HazardLayer
    from rahat.geo.registry.model import Registry

#: Version of the stored layout; entries of another version are rebuilt.
SCHEMA_VERSION = 1

#: Environment variable capping the store's total size, in MiB (0: store nothing).
CAP_ENV = "RAHAT_EXPOSURE_CACHE_MB"
#: Default cap of the store, in MiB.
DEFAULT_CAP_MB = 4096

#: Files no sidecar names are removed once this old (a builder may be between renames).
ORPHAN_AGE_S = 3600.0

#: Bytes per chunk of :func:`tree_sha256`.
HASH_CHUNK = 1 << 23

_META = b"rahat:exposure"
_LOG = logging.getLogger(__name__)

#: Modules whose code decides an overlay's values (their sources are part of the key).
_CODE = (
    "engine/overlay.py",
    "engine/zones.py",
    "engine/exposure_store.py",
    "engine/kernels",
    "geo/boundaries.py",
    "geo/hazards/classes.py",
)
#: Bundled reference folders the default zone layers are read from.
_ZONE_DATA = ("admin", "climate")


class ExposureCacheSettingError(InputError):
    """``RAHAT_EXPOSURE_CACHE_MB`` is not a whole number of MiB."""

    code = "exposure-cache-setting"


def store_dir() -> Path:
    """Return the folder of stored exposures (``<cache_dir()>/exposures``)."""
    from rahat.geo.paths import cache_dir

    return cache_dir() / "exposures"


def cap_bytes() -> int:
    """Return the store's size cap in bytes, from ``RAHAT_EXPOSURE_CACHE_MB`` (default 4096).

    Raises
    ------
    ExposureCacheSettingError
        If the variable is set to anything but a whole number of MiB, 0 or more.
    """
    text = os.environ.get(CAP_ENV, "").strip()
    if not text:
        return DEFAULT_CAP_MB << 20
    try:
        megabytes = int(text)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise ExposureCacheSettingError(
            f"{CAP_ENV}={text!r} is not a whole number of MiB; set it to 0 (store nothing) or "
            f"more (default {DEFAULT_CAP_MB})"
        )
    return megabytes << 20


# ---------------------------------------------------------------------------------- keys


def _hash_files(paths: Iterable[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _files_under(root: Path, names: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for name in names:
        path = root / name
        out.extend(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else out.append(path)
    return [p for p in out if p.suffix != ".pyc" and "__pycache__" not in p.parts]


@lru_cache(maxsize=1)
def code_identity() -> str:
    """Return the hash of the sources of the modules that compute an overlay."""
    from rahat.geo.paths import repo_root

    root = repo_root()
    return _hash_files(_files_under(root, _CODE), root)


def default_zones_identity() -> str:
    """Return the hash of the bundled files the default zone layers are read from."""
    from rahat.geo.paths import reference_data_dir

    return _default_zones_identity(str(reference_data_dir()))


@lru_cache(maxsize=4)
def _default_zones_identity(folder: str) -> str:
    root = Path(folder)
    return _hash_files(_files_under(root, _ZONE_DATA), root)


def user_zones_identity(scenario: Scenario | None) -> list[list[str | None]]:
    """Return, per ``zones`` layer of ``scenario``, its name, options and file sha256."""
    from rahat.geo.files import sha256_file

    if scenario is None:
        return []
    return [
        [spec.name, spec.field, spec.layer, spec.crs, sha256_file(scenario.resolve_path(spec.path))]
        for spec in scenario.zones
    ]


def hazard_identity(layer: HazardLayer, scenario: Scenario | None) -> list[Any]:
    """Return what decides a hazard layer's sampled values, as JSON-ready values.

    The file's sha256 with the reader's choices visible on the layer (kind, units, CRS,
    classification, grid georeferencing and dtype, or the footprint's values) and the
    scenario's reader options for it (attribute, layer, CRS stated for the file).
    """
    spec: dict[str, Any] = {}
    if scenario is not None and any(h.name == layer.name for h in scenario.hazards):
        chosen = scenario.hazard(layer.name)
        spec = {k: getattr(chosen, k) for k in ("intensity_field", "layer", "crs")}
    if layer.time_applied is not None:  # the values of a time axis depend on its reduction
        spec["time"] = layer.time_applied.as_dict()
    if layer.grid is not None:
        grid = layer.grid
        shape: Any = [
            list(grid.shape),
            list(grid.transform)[:6],
            str(grid.dtype),
            repr(grid.nodata),
        ]
    else:
        assert layer.vector is not None
        values = np.ascontiguousarray(layer.vector["value"].to_numpy(dtype=np.float64))
        shape = [len(values), hashlib.sha256(values.tobytes()).hexdigest()]
    return [
        layer.name,
        layer.provenance.sha256,
        str(layer.kind.value),
        layer.units,
        layer.crs.to_wkt(),
        repr(layer.classes),
        layer.source_format,
        shape,
        sorted(spec.items()),
    ]


def exposure_key(
    snapshot_sha256: str,
    hazards: Sequence[HazardLayer],
    scenario: Scenario | None,
    sampling: Any,
    zones: Any,
) -> str:
    """Return the store key of an overlay (hex, 40 characters).

    Parameters
    ----------
    snapshot_sha256
        The registry snapshot's column file hash.
    hazards
        The hazard layers, in order.
    scenario
        The scenario that read them (its reader options and zone files), if any.
    sampling
        How each layer is sampled (:func:`rahat.engine.pipeline._sampling_key`'s result).
    zones
        Identity of the zone layers (default layers, user files).
    """
    text = json.dumps(
        [
            SCHEMA_VERSION,
            code_identity(),
            snapshot_sha256,
            [hazard_identity(h, scenario) for h in hazards],
            sampling,
            zones,
        ],
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:40]


# ---------------------------------------------------------------------------------- hashing


def tree_sha256(data: memoryview | bytes, chunk: int = HASH_CHUNK) -> str:
    """Return the sha256 of the sha256s of ``data``'s ``chunk``-byte pieces (threads).

    hashlib releases the GIL, so the pieces are hashed on all cores: a gigabyte costs a
    fraction of a second.
    """
    view = memoryview(data).cast("B")
    pieces = [view[i : i + chunk] for i in range(0, max(len(view), 1), chunk)]
    workers = min(len(pieces), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        digests = list(pool.map(lambda piece: hashlib.sha256(piece).digest(), pieces))
    return hashlib.sha256(b"".join(digests)).hexdigest()


# ---------------------------------------------------------------------------------- encoding


def _table_bytes(table: pd.DataFrame) -> str:
    import pyarrow as pa

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def _table_of(text: str) -> pd.DataFrame:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(base64.b64decode(text))) as reader:
        return reader.read_all().to_pandas()


def _batch(exposure: Exposure) -> pa.RecordBatch:
    import pyarrow as pa

    arrays: list[pa.Array] = []
    hazards, zones = [], []
    for item in exposure.hazards.values():
        hazards.append(
            {
                "name": item.name,
                "kind": item.kind,
                "units": item.units,
                "class_labels": list(item.class_labels),
                "sha256": item.sha256,
            }
        )
        arrays += [pa.array(np.ascontiguousarray(item.intensity)), pa.array(item.hazard_class)]
    for zone in exposure.zones.values():
        zones.append({"name": zone.name, "table": _table_bytes(zone.table)})
        arrays.append(pa.array(np.ascontiguousarray(zone.codes, dtype=np.int32)))
    names = [f"hazard{i}.{part}" for i in range(len(hazards)) for part in ("intensity", "class")]
    names += [f"zone{i}.codes" for i in range(len(zones))]
    meta = {"hazards": hazards, "zones": zones, "households": len(exposure)}
    schema = pa.schema(
        [pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)],
        metadata={_META: json.dumps(meta).encode()},
    )
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _write(batch: pa.RecordBatch, path: Path) -> None:
    import pyarrow as pa

    options = pa.ipc.IpcWriteOptions(compression=None)
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, batch.schema, options=options) as writer,
    ):
        writer.write_batch(batch)


def _decode(table: pa.Table, registry: Registry) -> Exposure:
    """Rebuild an exposure from a mapped table; raise ``ValueError`` if it does not fit."""
    from rahat.geo.registry.snapshot import buffer_view

    meta = json.loads(table.schema.metadata[_META])
    if meta["households"] != len(registry) or table.num_rows != len(registry):
        raise ValueError(f"{table.num_rows:,} households, the registry has {len(registry):,}")
    if table.num_columns != 2 * len(meta["hazards"]) + len(meta["zones"]):
        raise ValueError("its columns do not match its description")

    def column(i: int, kinds: str) -> np.ndarray:
        chunks = table.column(i).chunks
        if len(chunks) != 1 or chunks[0].null_count:
            raise ValueError(f"column {table.column_names[i]} is not one plain array")
        dtype = np.dtype(chunks[0].type.to_pandas_dtype())
        if dtype.kind not in kinds:
            raise ValueError(f"column {table.column_names[i]} has type {dtype}")
        return buffer_view(chunks[0], dtype)

    hazards = {}
    for i, item in enumerate(meta["hazards"]):
        codes = column(2 * i + 1, "i")
        if codes.dtype != np.int8:
            raise ValueError("a class column is not int8")
        hazards[item["name"]] = HazardExposure(
            name=item["name"],
            kind=item["kind"],
            units=item["units"],
            intensity=column(2 * i, "f"),
            hazard_class=codes,
            class_labels=tuple(item["class_labels"]),
            sha256=item["sha256"],
        )
    first = 2 * len(meta["hazards"])
    zones = {}
    for j, item in enumerate(meta["zones"]):
        table_j = _table_of(item["table"])
        codes = column(first + j, "i")
        if codes.dtype != np.int32 or (len(codes) and int(codes.max()) >= len(table_j)):
            raise ValueError(f"zone {item['name']} codes do not fit its table")
        zones[item["name"]] = ZoneExposure(name=item["name"], codes=codes, table=table_j)
    return Exposure(registry=registry, hazards=hazards, zones=zones)


# ---------------------------------------------------------------------------------- the store


#: Fields of a stored exposure's sidecar, with their types.
_SIDECAR_FIELDS = {"arrow": str, "bytes": int, "sha256": str, "households": int}


def load_exposure(key: str, registry: Registry, folder: Path | None = None) -> Exposure | None:
    """Return the stored exposure ``key`` on ``registry`` (memory-mapped), or ``None``.

    An entry that exists but fails a check (unreadable sidecar, other schema version or key,
    missing or short Arrow file, other hash, household count or columns) is logged and
    ignored; the caller overlays again and :func:`store_exposure` replaces it. A used entry's
    sidecar is touched, for the least-recently-used eviction.
    """
    import pyarrow as pa

    try:
        folder = folder or store_dir()
        found = read_sidecar(folder, key, SCHEMA_VERSION, _SIDECAR_FIELDS, "arrow")
        if found is None:
            return None
        meta, problem = found
        if problem is None:
            mapped = pa.memory_map(str(folder / meta["arrow"]), "r")
            if mapped.size() != meta["bytes"]:
                problem = f"{mapped.size()} bytes instead of {meta['bytes']} (truncated)"
            elif tree_sha256(mapped.read_buffer()) != meta["sha256"]:
                problem = "its sha256 differs from the recorded one (corrupted)"
        if problem is None:
            mapped.seek(0)
            exposure = _decode(pa.ipc.open_file(mapped).read_all(), registry)
        if problem is not None:
            _LOG.warning("ignoring the stored exposure %s: %s; overlaying again", key, problem)
            return None
    except (OSError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:
        _LOG.warning("ignoring the stored exposure %s (%s); overlaying again", key, exc)
        return None
    with contextlib.suppress(OSError):  # a read-only store still serves its entries
        os.utime(folder / f"{key}.json")
    return exposure


def store_exposure(key: str, exposure: Exposure, folder: Path | None = None) -> Path | None:
    """Store ``exposure`` under ``key``; return the sidecar path, or ``None`` if not stored.

    Then evicts least recently used entries until the store fits its cap (:func:`cap_bytes`;
    never the entry just written). Never raises for a cache folder that cannot be written
    (read-only, full, missing permissions): it logs a warning naming the folder and the
    reason, and the caller goes on with the exposure in memory.
    """
    from rahat.geo.files import atomic_write

    cap = cap_bytes()
    batch = _batch(exposure)
    if batch.nbytes > cap:
        return None  # larger than the whole store: keeping it would evict everything
    try:
        folder = folder or store_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name, size, digest = _write_unique(folder, key, batch)
        meta = {
            "schema": SCHEMA_VERSION,
            "key": key,
            "arrow": name,
            "bytes": size,
            "sha256": digest,
            "households": len(exposure),
        }
        text = json.dumps(meta)
        sidecar = atomic_write(folder / f"{key}.json", lambda p: p.write_text(text, "utf-8"))
        evict(folder, cap, keep=key)
    except OSError as exc:
        _LOG.warning(
            "the exposure is not stored: the cache folder %s cannot be written (%s); it is used "
            "from memory and overlaid again on the next run (set RAHAT_CACHE_DIR to a writable "
            "folder with free space)",
            folder or "<cache>/exposures",
            exc,
        )
        return None
    return sidecar


def _write_unique(folder: Path, key: str, batch: pa.RecordBatch) -> tuple[str, int, str]:
    """Write ``batch`` under a unique temporary name, hash it, rename it by its hash."""
    import pyarrow as pa

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
    os.close(fd)
    try:
        _write(batch, Path(tmp))
        with pa.memory_map(tmp, "r") as mapped:
            size, digest = mapped.size(), tree_sha256(mapped.read_buffer())
        name = f"{key}.{digest[:16]}.arrow"
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name, size, digest


def evict(folder: Path, cap: int, *, keep: str = "") -> list[str]:
    """Remove least recently used entries until the Arrow files total at most ``cap`` bytes.

    Entry ``keep`` is never removed. Arrow and temporary files that no sidecar names and that
    are older than :data:`ORPHAN_AGE_S` (left by a crash, or a builder whose entry was
    replaced) are removed. Returns the removed keys.
    """
    entries: list[tuple[float, str, int, Path]] = []
    named: set[str] = set()
    for sidecar in folder.glob("*.json"):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            arrow = folder / str(meta["arrow"])
            entries.append((sidecar.stat().st_mtime, sidecar.stem, arrow.stat().st_size, arrow))
            named.add(arrow.name)
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a sidecar being replaced or broken: load_exposure decides
    stale = time.time() - ORPHAN_AGE_S
    for orphan in [*folder.glob("*.arrow"), *folder.glob(".*.tmp")]:
        try:
            if orphan.name not in named and orphan.stat().st_mtime < stale:
                orphan.unlink(missing_ok=True)
        except OSError:
            continue
    total = sum(size for _, _, size, _ in entries)
    removed = []
    for _, key, size, arrow in sorted(entries):
        if total <= cap:
            break
        if key == keep:
            continue
        (folder / f"{key}.json").unlink(missing_ok=True)
        arrow.unlink(missing_ok=True)
        total -= size
        removed.append(key)
    return removed
