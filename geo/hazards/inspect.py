"""``inspect_hazard``: a JSON-serialisable summary of a layer (CLI and API)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rahat.geo.hazards.area import EQUAL_AREA_CRS, class_areas_m2
from rahat.geo.hazards.layer import HazardLayer


def _crs_name(layer: HazardLayer) -> str:
    epsg = layer.crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(layer.crs.name)


def _num(value: Any) -> Any:
    """A JSON-safe number: NaN stays the string ``"nan"``; +-inf (an open bound) is ``None``."""
    if value is None:
        return None
    f = float(value)
    if np.isnan(f):
        return "nan"
    if np.isinf(f):
        return None
    return int(f) if f.is_integer() else f


def _operator(layer: HazardLayer) -> str:
    c = layer.classes
    if c.descending:
        return "<=" if c.inclusive else "<"
    return ">=" if c.inclusive else ">"


def inspect_hazard(layer: HazardLayer) -> dict[str, Any]:
    """Summarise a hazard layer.

    Areas are in km², computed in the equal-area CRS EPSG:6933 (rasters: per cell, summed per
    class; vectors: union per class, the higher class winning where polygons overlap).

    Parameters
    ----------
    layer
        A layer from :func:`read_hazard`.

    Returns
    -------
    dict
        ``name``, ``kind``, ``units``, ``type`` (raster/vector), ``format``, ``crs``,
        ``extent`` (native), ``extent_wgs84``, ``resolution`` (rasters, CRS units), ``shape``,
        ``nodata``, ``dtype``, ``features`` (vectors), ``valid_time``, ``value_range``,
        ``classes`` (code, label, lower, upper, area_km2), ``class_rule``, ``area_km2`` (with
        data), ``affected_km2`` (class >= 1), ``nodata_km2``, ``area_crs``, ``provenance`` and
        ``warnings``.
    """
    areas = class_areas_m2(layer) / 1e6
    bounds = layer.classes.bounds()
    classes = [
        {
            "code": code,
            "label": label,
            "lower": _num(bounds[code][0]),
            "upper": _num(bounds[code][1]),
            "area_km2": float(areas[code + 1]),
        }
        for code, label in enumerate(layer.classes.labels)
    ]
    out: dict[str, Any] = {
        "name": layer.name,
        "kind": layer.kind.value,
        "units": layer.units,
        "type": "raster" if layer.grid is not None else "vector",
        "format": layer.source_format,
        "crs": _crs_name(layer),
        "extent": list(layer.bounds()),
        "extent_wgs84": list(layer.extent_wgs84()),
        "valid_time": (
            [t.isoformat() for t in layer.valid_time] if layer.valid_time is not None else None
        ),
        "classes": classes,
        "class_rule": f"class i when value {_operator(layer)} thresholds[i - 1]",
        "area_km2": float(areas[1:].sum()),
        "affected_km2": float(areas[2:].sum()),
        "nodata_km2": float(areas[0]),
        "area_crs": EQUAL_AREA_CRS,
        "provenance": layer.provenance.to_dict(),
        "warnings": list(layer.warnings),
    }
    if layer.grid is not None:
        grid = layer.grid
        out.update(
            resolution=list(grid.res),
            shape=list(grid.shape),
            nodata=_num(grid.nodata),
            dtype=str(grid.dtype),
            value_range=None,
        )
        stats = layer.stats
        if stats is not None and stats.classes == layer.classes:
            out["value_range"] = [_num(stats.minimum), _num(stats.maximum)]
    else:
        assert layer.vector is not None
        values = np.asarray(layer.vector["value"], dtype=float)
        finite = values[np.isfinite(values)]
        out.update(
            resolution=None,
            features=len(layer.vector),
            value_range=[_num(finite.min()), _num(finite.max())] if finite.size else None,
        )
    return out
