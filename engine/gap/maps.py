"""``gap_map.png``: districts shaded by their estimated unregistered bottom-40 % households.

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


def gap_map(
    districts: pd.DataFrame, path: str | Path, footprint: HazardLayer | None = None
) -> Path:
    """Draw the district choropleth of unregistered bottom-40 % households into ``path``.

    Parameters
    ----------
    districts
        ``key`` (``province|district``) and ``unregistered_b40_est`` per district; districts
        without a polygon of that name are left unshaded (counted in the map's footnote).
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
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from rahat.engine.targeting.maps import _district_patches
    from rahat.geo.denominators import district_households, unit_polygons

    census = district_households()
    keys = census["province"].astype(str) + "|" + census["district"].astype(str)
    code_key = pd.Series(keys.to_numpy(), index=census["code"].to_numpy())
    shapes = unit_polygons("district")
    estimate = pd.Series(
        districts["unregistered_b40_est"].to_numpy(np.float64), index=districts["key"].to_numpy()
    )
    values = shapes["code"].map(code_key).map(estimate).fillna(0.0).to_numpy(np.float64)
    unshaded = int((~districts["key"].isin(set(keys))).sum())

    fig = Figure(figsize=(8, 8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.09, 0.07, 0.74, 0.85))
    norm = Normalize(vmin=0.0, vmax=max(float(values.max(initial=0.0)), 1.0))
    ax.add_collection(_district_patches(shapes, values, norm))
    fig.colorbar(
        ScalarMappable(norm=norm, cmap="Oranges"),
        cax=fig.add_axes((0.86, 0.3, 0.025, 0.4)),
        label="unregistered bottom-40% households (estimate)",
    )
    x0, x1, y0, y1 = PAKISTAN
    if footprint is not None and _outline(ax, footprint, PAKISTAN):
        ax.legend(loc="lower right", fontsize=8)
    total = float(estimate.sum())
    ax.set_title(
        "Estimated unregistered bottom-40% households by district "
        f"(sum of the district estimates: {total:,.0f})",
        fontsize=10,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.radians((y0 + y1) / 2)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    note = "Boundaries: OSM (ODbL); Sindh P-codes OCHA COD-AB"
    if unshaded:
        note += f"; {unshaded} district(s) of the table match no boundary"
    ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=6, color="0.4")
    fig.savefig(path, format="png", metadata={"Software": None})
    return Path(path)
