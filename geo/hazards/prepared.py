"""Prepared vector footprints: the repaired, validated layer stored by its source's sha256.

Repairing a large invalid footprint (thousands of parts, hundreds of thousands of vertices)
costs seconds; the same file is read again for every run, what-if and budget comparison.
:func:`load_prepared` and :func:`store_prepared` keep the result of
:func:`rahat.geo.hazards.vector.read_vector` as GeoParquet under
``<cache_dir()>/hazards/prepared/``, keyed by the sha256 of the source file's bytes and the
reader options that change the result (member of an archive, layer, CRS stated by the caller,
intensity attribute) plus :data:`SCHEMA_VERSION`.

Each entry is two files:

* ``<key>.<digest>.parquet``: the layer (GeoParquet), named by the first characters of the
  sha256 of its own bytes, so two processes preparing the same file at once never write the
  same name with different bytes;
* ``<key>.json``: schema version, the parquet file's name, length and sha256, the warnings
  the preparation produced, and the feature and vertex counts (for the size limits).

Both are written to a unique temporary name and renamed (atomic on one file system). A stored
entry is used only when its sidecar parses, has this schema version and key, and the parquet
bytes have the recorded length and sha256; anything else (a truncated, corrupted or older
entry) is ignored, logged and rebuilt. A cache folder that cannot be written (read-only, disk
full) never fails a read: the layer is returned unstored and a warning is logged.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rahat.geo.sidecar import read_sidecar

if TYPE_CHECKING:
    import geopandas as gpd

#: Version of the stored layout; entries of another version are rebuilt.
SCHEMA_VERSION = 1

#: Layers with fewer vertices are cheap to read again and are not stored.
MIN_STORED_VERTICES = 20_000

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A stored, validated footprint.

    Attributes
    ----------
    frame
        The layer (valid polygonal geometries, attribute columns, ``value``), with its CRS.
    warnings
        Warnings the preparation produced (repaired geometries, infinite values).
    features, vertices
        Counts checked against the size limits when the entry is used.
    """

    frame: gpd.GeoDataFrame
    warnings: tuple[str, ...]
    features: int
    vertices: int


def prepared_dir() -> Path:
    """Return the folder of prepared footprints (``<cache_dir()>/hazards/prepared``).

    Raises
    ------
    OSError
        If the cache folder cannot be created.
    """
    from rahat.geo.paths import cache_dir

    return cache_dir() / "hazards" / "prepared"


def prepared_key(source_sha256: str, options: Sequence[Any]) -> str:
    """Return the store key of a source file read with ``options`` (hex, 40 characters)."""
    text = json.dumps([SCHEMA_VERSION, source_sha256, [str(o) for o in options]])
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def load_prepared(key: str, folder: Path | None = None) -> Prepared | None:
    """Return the stored entry ``key``, or ``None`` when absent or not intact.

    An entry that exists but fails a check (unreadable sidecar, other schema version or key,
    missing parquet, wrong length or sha256, parquet that does not decode) is logged and
    ignored; the caller prepares the layer again and :func:`store_prepared` replaces it.
    """
    import geopandas as gpd

    try:
        folder = folder or prepared_dir()
        found = read_sidecar(folder, key, SCHEMA_VERSION, _SIDECAR_FIELDS, "parquet")
        if found is None:
            return None
        meta, problem = found
        if problem is None:
            data = (folder / str(meta["parquet"])).read_bytes()
            if len(data) != meta["bytes"]:
                problem = f"{len(data)} bytes instead of {meta['bytes']} (truncated)"
            elif hashlib.sha256(data).hexdigest() != meta["sha256"]:
                problem = "its sha256 differs from the recorded one (corrupted)"
        if problem is not None:
            _LOG.warning("ignoring the stored footprint %s: %s; preparing it again", key, problem)
            return None
        frame = gpd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        _LOG.warning("ignoring the stored footprint %s (%s); preparing it again", key, exc)
        return None
    return Prepared(
        frame=frame,
        warnings=tuple(str(w) for w in meta["warnings"]),
        features=int(meta["features"]),
        vertices=int(meta["vertices"]),
    )


#: Fields of a prepared footprint's sidecar, with their types.
_SIDECAR_FIELDS = {
    "parquet": str,
    "bytes": int,
    "sha256": str,
    "warnings": list,
    "features": int,
    "vertices": int,
}


def store_prepared(
    key: str, prepared: Prepared, folder: Path | None = None, *, source: str | Path = ""
) -> Path | None:
    """Store ``prepared`` under ``key``; return the sidecar path, or ``None`` if not stored.

    Never raises for a cache folder that cannot be written (read-only, full, missing
    permissions) or a layer GeoParquet cannot hold: it logs a warning naming the folder and
    the reason, and the caller goes on with the layer in memory.
    """
    try:
        folder = folder or prepared_dir()
        buffer = io.BytesIO()
        prepared.frame.to_parquet(buffer, index=False, compression="zstd")
    except OSError as exc:
        _not_stored(source, "the cache folder cannot be created", exc)
        return None
    except Exception as exc:  # an attribute type GeoParquet cannot hold
        _not_stored(source, "the layer cannot be written as GeoParquet", exc)
        return None
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    name = f"{key}.{digest[:16]}.parquet"
    meta = {
        "schema": SCHEMA_VERSION,
        "key": key,
        "parquet": name,
        "bytes": len(data),
        "sha256": digest,
        "warnings": list(prepared.warnings),
        "features": prepared.features,
        "vertices": prepared.vertices,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / name, data)
        _atomic_write(folder / f"{key}.json", json.dumps(meta).encode())
    except OSError as exc:
        _not_stored(source, f"the cache folder {folder} cannot be written", exc)
        return None
    return folder / f"{key}.json"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a unique temporary file next to ``path`` and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _not_stored(source: str | Path, why: str, exc: Exception) -> None:
    _LOG.warning(
        "the prepared footprint of %s is not stored: %s (%s); it is used from memory and "
        "repaired again on the next read (set RAHAT_CACHE_DIR to a writable folder)",
        source,
        why,
        exc,
    )
