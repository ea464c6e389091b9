"""``gap_map.png``: districts shaded by their unregistered bottom-40 % and their stale records.

Drawn like the caseload map (:mod:`rahat.engine.targeting.maps`: a bare matplotlib figure on
the Agg canvas, no timestamp in the PNG, so the same table gives the same bytes), with the
footprint's outline where one is given: the hazard is sampled on a grid over its extent with
the engine's own rule (class at least 1, :func:`rahat.engine.gap.footprint.in_footprint`) and
the edge of that mask drawn as a contour.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rahat.engine.gap.footprint import in_footprint

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize

    from rahat.geo.hazards.layer import HazardLayer

#: Map extent (west, east, south, north) when nothing narrower is asked: all of Pakistan.
PAKISTAN = (60.8, 77.9, 23.6, 37.1)
#: Grid points along the longer side of the footprint's extent, to trace its outline.
OUTLINE_CELLS = 400


def _outline(ax: Axes, layer: HazardLayer, extent: tuple[float, float, float, float]) -> bool:
    """Draw the footprint's outline inside ``extent``; whether anything was drawn."""
    west, south, east, north = layer.extent_wgs84()
    x0, x1 = max(west, extent[0]), min(east, extent[1])
    y0, y1 = max(south, extent[2]), min(north, extent[3])
    if x1 <= x0 or y1 <= y0:
        return False
    step = max(x1 - x0, y1 - y0) / OUTLINE_CELLS
    xs = np.arange(x0 + step / 2, x1, step)
    ys = np.arange(y0 + step / 2, y1, step)
    lon, lat = np.meshgrid(xs, ys)
    mask = in_footprint(layer, lon.ravel(), lat.ravel()).reshape(lon.shape)
    if not mask.any() or len(xs) < 2 or len(ys) < 2:
        return False
    ax.contour(xs, ys, mask.astype(np.float32), levels=[0.5], colors="#1f4e99", linewidths=1.0)
    ax.plot([], [], color="#1f4e99", linewidth=1.0, label=f"footprint: {layer.name[:60]}")
    return True


def _panel(
    ax: Axes,
    shapes: pd.DataFrame,
    values: np.ndarray,
    title: str,
    footprint: HazardLayer | None,
) -> Normalize:
    """Shade the districts by ``values`` in ``ax``, outline the footprint; the colour scale."""
    from matplotlib.colors import Normalize

    from rahat.engine.targeting.maps import _district_patches

    norm = Normalize(vmin=0.0, vmax=max(float(np.nanmax(values, initial=0.0)), 1e-9))
    ax.add_collection(_district_patches(shapes, np.nan_to_num(values), norm))
    if footprint is not None and _outline(ax, footprint, PAKISTAN):
        ax.legend(loc="lower right", fontsize=7)
    x0, x1, y0, y1 = PAKISTAN
    ax.set_title(title, fontsize=9)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.radians((y0 + y1) / 2)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    return norm


def gap_map(
    districts: pd.DataFrame, path: str | Path, footprint: HazardLayer | None = None
) -> Path:
    """Draw the district maps of the gap: unregistered bottom-40 % and stale records.

    The left panel shades each district by its estimated unregistered bottom-40 % households,
    the right one by the share of its registered records that are stale (not updated for more
    than the table's ``--stale-years``), each with the footprint's outline.

    Parameters
    ----------
    districts
        ``key`` (``province|district``), ``unregistered_b40_est``, ``registered`` and
        ``stale_records`` per district; districts without a polygon of that name are left
        unshaded (counted in the map's footnote).
    path
        Output PNG (written directly; callers wanting atomicity pass a temporary name).
    footprint
        A hazard layer whose outline is drawn, or ``None``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    from rahat.geo.denominators import district_households, unit_polygons

    census = district_households()
    keys = census["province"].astype(str) + "|" + census["district"].astype(str)
    code_key = pd.Series(keys.to_numpy(), index=census["code"].to_numpy())
    shapes = unit_polygons("district")
    shape_keys = shapes["code"].map(code_key)

    def per_shape(column: str) -> np.ndarray:
        by_key = pd.Series(districts[column].to_numpy(np.float64), index=districts["key"])
        return shape_keys.map(by_key).to_numpy(np.float64)

    estimate = per_shape("unregistered_b40_est")
    registered = per_shape("registered")
    stale = np.divide(
        per_shape("stale_records"),
        registered,
        out=np.full(len(shapes), np.nan),
        where=registered > 0,
    )
    unshaded = int((~districts["key"].isin(set(keys))).sum())
    total = float(districts["unregistered_b40_est"].sum())
    stale_total = float(districts["stale_records"].sum())
    registered_total = float(districts["registered"].sum())

    fig = Figure(figsize=(15, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    left = fig.add_axes((0.05, 0.08, 0.38, 0.84))
    norm = _panel(
        left,
        shapes,
        estimate,
        "Estimated unregistered bottom-40% households by district\n"
        f"(sum of the district estimates: {total:,.0f})",
        footprint,
    )
    fig.colorbar(
        ScalarMappable(norm=norm, cmap="Oranges"),
        cax=fig.add_axes((0.44, 0.3, 0.012, 0.4)),
        label="unregistered bottom-40% households (estimate)",
    )
    right = fig.add_axes((0.54, 0.08, 0.38, 0.84))
    share = stale_total / registered_total if registered_total else 0.0
    norm = _panel(
        right,
        shapes,
        stale,
        f"Stale registry records: {stale_total:,.0f} of {registered_total:,.0f} ({share:.0%})\n"
        "share of each district's registered records",
        footprint,
    )
    fig.colorbar(
        ScalarMappable(norm=norm, cmap="Oranges"),
        cax=fig.add_axes((0.93, 0.3, 0.012, 0.4)),
        label="stale records / registered",
    )
    note = "Boundaries: OSM (ODbL); Sindh P-codes OCHA COD-AB"
    if unshaded:
        note += f"; {unshaded} district(s) of the table match no boundary"
    left.text(0.01, 0.01, note, transform=left.transAxes, fontsize=6, color="0.4")
    fig.savefig(path, format="png", metadata={"Software": None})
    return Path(path)
