"""Stored raster scans: the validation pass over a GeoTIFF done once per file, window and classes.

Reading a raster hazard streams every block of the window over the registry once
(:func:`rahat.geo.hazards.area.scan_raster`): it proves that no block is truncated or corrupt
and counts the valid cells and the equal-area m² of each class. On a national flood raster that
pass costs about half a second, every run. Its result depends only on the file's bytes, the
window, the CRS and the classification, so it is kept as a small JSON file under
``<cache_dir()>/hazards/scans/``, keyed by the file's sha256 (already computed for the layer's
provenance), the window's georeferencing, the CRS, the classes and the source of the scanning
code. The same bytes were decoded in full when the entry was written, so a stored entry proves
the same as a new pass. An entry that cannot be read or decoded is ignored and written again;
a cache folder that cannot be written only means the scan runs each time. Rasters computed in
memory (a NetCDF time reduction) are always scanned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rahat.geo.hazards.layer import HazardLayer, RasterStats

#: Formats whose grid is a window of the file itself (its values depend on the bytes alone).
_FILE_GRIDS = frozenset({"geotiff", "gdal-raster"})
#: Layout version of a stored scan.
_VERSION = 1


@cache
def _code_sha256() -> str:
    """The sources that compute a scan: a changed rule is a new key."""
    from rahat.geo.hazards import area, classes, grid

    digest = hashlib.sha256()
    for module in (area, classes, grid):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def scan_key(layer: HazardLayer) -> str | None:
    """The store key of ``layer``'s scan, or ``None`` when its grid is not a window of a file.

    Parameters
    ----------
    layer
        A raster layer whose provenance (file sha256) is set.

    Returns
    -------
    str or None
        40 hex characters.
    """
    grid = layer.grid
    if grid is None or layer.source_format not in _FILE_GRIDS:
        return None
    parts = [
        _VERSION,
        layer.provenance.sha256,
        list(grid.transform)[:6],
        grid.width,
        grid.height,
        str(grid.dtype),
        repr(grid.nodata),
        layer.crs.to_wkt() if layer.crs is not None else None,
        repr(layer.classes),
        _code_sha256(),
    ]
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()[:40]


def _scans_dir() -> Path:
    from rahat.geo.paths import cache_dir

    return cache_dir() / "hazards" / "scans"


def _decode(meta: Any, layer: HazardLayer) -> RasterStats:
    from rahat.geo.hazards.layer import RasterStats

    area = np.asarray(meta["class_area_m2"], dtype=float)
    if area.shape != (layer.classes.n_classes + 1,):
        raise ValueError("class areas do not fit the classes")
    return RasterStats(
        valid_count=int(meta["valid_count"]),
        minimum=None if meta["minimum"] is None else float(meta["minimum"]),
        maximum=None if meta["maximum"] is None else float(meta["maximum"]),
        class_area_m2=area,
        classes=layer.classes,
        infinite_count=int(meta["infinite_count"]),
    )


def stored_scan(layer: HazardLayer, scan: Callable[[], RasterStats]) -> RasterStats:
    """Return the stored scan of ``layer``, or run ``scan()`` and store its result.

    Parameters
    ----------
    layer
        The raster layer being read.
    scan
        The validation pass (raises for a corrupt file: nothing is stored then).

    Returns
    -------
    RasterStats
    """
    from rahat.geo.files import atomic_write

    key = scan_key(layer)
    if key is None:
        return scan()
    try:
        path: Path | None = _scans_dir() / f"{key}.json"
    except OSError:  # no cache folder: scan each time
        path = None
    if path is not None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            return _decode(json.loads(path.read_text(encoding="utf-8")), layer)
    stats = scan()
    if path is None:
        return stats
    meta = {
        "valid_count": stats.valid_count,
        "minimum": stats.minimum,
        "maximum": stats.maximum,
        "class_area_m2": [float(a) for a in stats.class_area_m2],
        "infinite_count": stats.infinite_count,
    }
    text = json.dumps(meta)
    with contextlib.suppress(OSError):
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return stats
