"""Compare two versions of one event (e.g. day-3 vs day-7 flood extent) class by class."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rahat.geo.errors import SchemaError
from rahat.geo.hazards.area import CellAreas, vector_class_geometries
from rahat.geo.hazards.classes import NODATA_CODE
from rahat.geo.hazards.layer import HazardLayer

if TYPE_CHECKING:
    import pandas as pd

#: Label of the row that compares "any class >= 1".
ANY_CLASS = "any"


def _same_grid(a: HazardLayer, b: HazardLayer) -> bool:
    assert a.grid is not None and b.grid is not None
    return (
        a.crs.equals(b.crs)
        and a.grid.shape == b.grid.shape
        and a.grid.transform.almost_equals(b.grid.transform, precision=1e-9)
    )


def _codes_on(layer: HazardLayer, ref: HazardLayer) -> np.ndarray:
    """Class codes of ``layer`` on ``ref``'s grid (nearest resampling / rasterisation)."""
    assert ref.grid is not None
    grid = ref.grid
    if layer.grid is not None:
        from rasterio.warp import Resampling, reproject

        src = layer.grid.read().astype(float)
        src[~layer.grid.valid(src)] = np.nan
        dst = np.full(grid.shape, np.nan)
        reproject(
            src,
            dst,
            src_transform=layer.grid.transform,
            src_crs=layer.crs.to_wkt(),
            dst_transform=grid.transform,
            dst_crs=ref.crs.to_wkt(),
            src_nodata=np.nan,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
        return layer.classes.classify(dst)
    assert layer.vector is not None
    from rasterio.features import rasterize

    frame = layer.vector.to_crs(ref.crs)
    codes = layer.classes.classify(np.asarray(frame["value"], dtype=float))
    order = np.argsort(codes, kind="stable")  # higher classes burnt last, so they win
    shapes = zip(frame.geometry.values[order], (codes[order] + 1).tolist(), strict=True)
    burnt = rasterize(
        shapes,
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="int16",
    )
    # outside the footprint counts as class 0, like in the vector comparison
    out = np.where(burnt == 0, 0, burnt - 1).astype(np.int8)
    return out


def _raster_diff(a: HazardLayer, b: HazardLayer, resample: bool) -> np.ndarray:
    """Return m² as array ``[code, (added, removed, kept)]`` plus a last row for any class."""
    assert a.grid is not None
    n = a.classes.n_classes
    out = np.zeros((n + 1, 3))
    areas = CellAreas(a.grid.transform, a.crs, a.grid.width)
    b_codes_all = None
    if b.grid is None or not _same_grid(a, b):
        if not resample:
            raise SchemaError(
                f"{a.name} and {b.name} are on different grids or types; pass resample=True "
                "to resample the second onto the first (nearest neighbour)"
            )
        b_codes_all = _codes_on(b, a)
    for window, values in a.grid.strips():
        ca = a.classify(values)
        if b_codes_all is not None:
            cb = b_codes_all[window.toslices()]
        else:
            assert b.grid is not None
            cb = b.classify(b.grid.read(window))
        cell = np.broadcast_to(areas(int(window.row_off), int(window.height)), ca.shape)
        _accumulate(out, ca, cb, cell, n)
    return out


def _accumulate(out: np.ndarray, ca: np.ndarray, cb: np.ndarray, cell: np.ndarray, n: int) -> None:
    both = (ca != NODATA_CODE) & (cb != NODATA_CODE)
    for code in range(1, n):
        ina, inb = (ca == code) & both, (cb == code) & both
        out[code] += [cell[inb & ~ina].sum(), cell[ina & ~inb].sum(), cell[ina & inb].sum()]
    ina, inb = (ca >= 1) & both, (cb >= 1) & both
    out[n] += [cell[inb & ~ina].sum(), cell[ina & ~inb].sum(), cell[ina & inb].sum()]


def _vector_diff(a: HazardLayer, b: HazardLayer) -> np.ndarray:
    import shapely

    assert a.vector is not None and b.vector is not None
    n = a.classes.n_classes
    out = np.zeros((n + 1, 3))
    ga = vector_class_geometries(a.vector, a.classes)
    gb = vector_class_geometries(b.vector, b.classes)
    empty = shapely.Polygon()
    pairs = {code: (ga.get(code, empty), gb.get(code, empty)) for code in range(1, n)}
    pairs[n] = (
        shapely.union_all([g for c, g in ga.items() if c >= 1] or [empty]),
        shapely.union_all([g for c, g in gb.items() if c >= 1] or [empty]),
    )
    for row, (x, y) in pairs.items():
        out[row] = [
            shapely.difference(y, x).area,
            shapely.difference(x, y).area,
            shapely.intersection(x, y).area,
        ]
    return out


def diff_hazards(a: HazardLayer, b: HazardLayer, *, resample: bool = False) -> pd.DataFrame:
    """Compare an earlier layer ``a`` with a later layer ``b`` of the same event.

    For every class ``c >= 1``: ``added_km2`` is where ``b`` is class ``c`` and ``a`` is not,
    ``removed_km2`` where ``a`` is class ``c`` and ``b`` is not, ``kept_km2`` where both are.
    A last row, class ``"any"``, does the same for "any class >= 1". Areas are equal-area km²
    (EPSG:6933). Raster cells with no data in either layer are left out.

    Parameters
    ----------
    a, b
        Two layers with the same classes: both vector, or both raster on the same grid.
    resample
        Allow comparing a raster with a vector layer or with a raster on another grid, by
        resampling ``b`` onto ``a``'s grid (nearest neighbour) or rasterising it.

    Returns
    -------
    pandas.DataFrame
        Columns ``class``, ``added_km2``, ``removed_km2``, ``kept_km2``.

    Raises
    ------
    rahat.geo.errors.SchemaError
        If the classes differ, or the layers need resampling and ``resample`` is false.
    """
    import pandas as pd

    if a.classes.labels != b.classes.labels or a.classes.thresholds != b.classes.thresholds:
        raise SchemaError(
            f"{a.name} ({a.kind.value}) and {b.name} ({b.kind.value}) have different classes; "
            "compare two versions of the same kind of layer"
        )
    if a.vector is not None and b.vector is not None:
        m2 = _vector_diff(a, b)
    elif a.grid is not None:
        m2 = _raster_diff(a, b, resample)
    else:
        if not resample:
            raise SchemaError(
                f"{a.name} is a vector and {b.name} a raster; pass resample=True to rasterise "
                f"{a.name} onto the raster's grid"
            )
        swapped = _raster_diff(b, a, True)
        m2 = swapped[:, [1, 0, 2]]
    labels = [*a.classes.labels[1:], ANY_CLASS]
    km2 = m2[1:] / 1e6
    return pd.DataFrame(
        {
            "class": labels,
            "added_km2": km2[:, 0],
            "removed_km2": km2[:, 1],
            "kept_km2": km2[:, 2],
        }
    )
