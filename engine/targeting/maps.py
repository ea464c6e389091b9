"""PNG figures for coordinators: the caseload map and the sweep heatmap (matplotlib, Agg).

The map shows district boundaries shaded by selected households, the hazard footprint as the
exposed households (light blue dots) and the selected households (dark red dots), with a title
giving the headline totals: something to paste into a situation report. The households are drawn
as one image (a cell per pixel, every household shown) rather than one marker each. The PNG
carries no timestamp. Text a user chose (the scenario name, swept parameter names) is shortened
to 80 characters (:func:`~rahat.engine.targeting.scenario.shorten`), so matplotlib never lays
out long text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.engine.targeting.scenario import shorten

if TYPE_CHECKING:
    import geopandas as gpd

    from rahat.engine.targeting.caseload import Caseload
    from rahat.engine.targeting.sweep import SweepResult

#: Colour and opacity of the exposed and selected households' dots.
_DOT_COLOURS = {"exposed": ("#4a90d9", 0.35), "selected": ("#8b0000", 0.6)}
#: Cells of the dot image along its longer side (about the map's width in pixels).
_DOT_CELLS = 720


def _dots_image(
    lon: np.ndarray,
    lat: np.ndarray,
    exposed: np.ndarray,
    selected: np.ndarray,
    extent: tuple[float, float, float, float],
) -> np.ndarray:
    """The households as an RGBA image: a cell is coloured where any household of a layer lies.

    One image instead of a marker per household: every household shows (no thinning) and the
    map of 40 M households draws as fast as that of a thousand. Selected households are drawn
    over exposed ones.
    """
    from matplotlib.colors import to_rgba

    x0, x1, y0, y1 = extent
    scale = _DOT_CELLS / max(x1 - x0, y1 - y0)
    width, height = max(int((x1 - x0) * scale), 1), max(int((y1 - y0) * scale), 1)
    image = np.zeros((height, width, 4), dtype=np.float32)
    for label, mask in (("exposed", exposed), ("selected", selected)):
        keep = np.asarray(mask, dtype=bool) & np.isfinite(lon) & np.isfinite(lat)
        col = np.clip(((lon[keep] - x0) * scale).astype(np.int64), 0, width - 1)
        row = np.clip(((lat[keep] - y0) * scale).astype(np.int64), 0, height - 1)
        hit = np.zeros(height * width, dtype=bool)
        hit[row * width + col] = True
        colour, alpha = _DOT_COLOURS[label]
        image.reshape(-1, 4)[hit] = (*to_rgba(colour)[:3], alpha)
    return image


def _district_patches(shapes: gpd.GeoDataFrame, values: np.ndarray, norm: Any) -> Any:
    """The districts as one collection of compound paths (holes kept), shaded by ``values``."""
    import shapely
    from matplotlib import colormaps
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path as MplPath

    paths = []
    for geometry in shapely.get_parts(shapes.geometry.to_numpy()):
        ring_paths = [
            MplPath(np.asarray(ring.coords)[:, :2], closed=True)
            for ring in (geometry.exterior, *geometry.interiors)
        ]
        paths.append(MplPath.make_compound_path(*ring_paths))
    counts = np.repeat(values, shapely.get_num_geometries(shapes.geometry.to_numpy()))
    collection = PathCollection(
        paths, edgecolors="0.45", linewidths=0.4, cmap=colormaps["Oranges"], norm=norm
    )
    collection.set_array(counts)
    return collection


def option_lines(totals: dict[str, Any]) -> list[str]:
    """Title lines for the stale-record and gap figures of a caseload (none without them)."""
    lines = []
    if "stale_in_footprint" in totals:
        lines.append(
            f"stale records: {totals['stale_in_footprint']:,} in the footprint, "
            f"{totals['stale_selected']:,} selected"
        )
    if "unregistered_b40_footprint_est" in totals:
        line = f"unregistered bottom-40% (est.): {totals['unregistered_b40_footprint_est']:,}"
        if totals.get("reserved_for_unregistered") is not None:
            line += f"; reserved Rs {totals['reserved_for_unregistered']:,}"
        lines.append(line)
    return lines


def caseload_map(caseload: Caseload, path: str | Path) -> Path:
    """Draw the caseload map into ``path`` (PNG).

    Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas and a fixed layout
    (no ``pyplot``, no geopandas plotting, no ``tight_layout`` pass): 2.0 s for 2.9 M considered
    households (10 M registry), matplotlib's import included.

    Parameters
    ----------
    caseload
        The evaluated caseload.
    path
        Output file (written directly; callers wanting atomicity pass a temporary name).
    """
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from rahat.geo.boundaries import districts

    column = caseload.column
    lon = column("lon").to_numpy()
    lat = column("lat").to_numpy()
    selected = column("selected").to_numpy()
    exposed = column("exposed").to_numpy()
    fig = Figure(figsize=(8, 8), dpi=110)
    FigureCanvasAgg(fig)
    extra = option_lines(caseload.totals)  # a title line each: the axes make room
    ax = fig.add_axes((0.09, 0.07, 0.74, 0.85 - 0.025 * len(extra)))
    if len(lon):
        pad = 0.5
        x0, x1 = float(np.nanmin(lon)) - pad, float(np.nanmax(lon)) + pad
        y0, y1 = float(np.nanmin(lat)) - pad, float(np.nanmax(lat)) + pad
    else:
        x0, x1, y0, y1 = 60.8, 77.9, 23.6, 37.1
    shapes = districts()
    shapes = shapes.cx[x0:x1, y0:y1]
    counts = column("district")[selected].astype(str).value_counts()
    values = shapes["district"].map(counts).fillna(0).to_numpy(dtype=float)
    norm = Normalize(vmin=float(values.min(initial=0.0)), vmax=float(values.max(initial=0.0)))
    ax.add_collection(_district_patches(shapes, values, norm))
    colorbar_axes = fig.add_axes((0.86, 0.3, 0.025, 0.4))
    fig.colorbar(
        ScalarMappable(norm=norm, cmap="Oranges"),
        cax=colorbar_axes,
        label="selected households per district",
    )
    extent = (x0, x1, y0, y1)
    ax.imshow(
        _dots_image(lon, lat, exposed, selected, extent),
        extent=extent,
        origin="lower",
        interpolation="nearest",
        aspect="auto",
        zorder=2,
    )
    for label, (colour, alpha) in _DOT_COLOURS.items():  # legend entries for the dot layers
        ax.scatter([], [], s=0.5, c=colour, alpha=alpha, linewidths=0, label=label)
    labelled = values > 0
    if labelled.any():
        points = shapely.point_on_surface(shapes.geometry.to_numpy()[labelled])
        names = shapes["district"].to_numpy()[labelled]
        for name, x, y in zip(names, shapely.get_x(points), shapely.get_y(points), strict=True):
            ax.annotate(str(name), (x, y), fontsize=6, ha="center", color="0.15")
    t = caseload.totals
    ax.set_title(
        f"{shorten(caseload.scenario.name)}: {t['selected']:,} households, {t['people']:,} people, "
        f"Rs {t['amount']:,}\nexposed reached: "
        + (f"{t['exposed_reached_share']:.0%}" if t["exposed_reached_share"] is not None else "-")
        + "".join(f"\n{line}" for line in extra),
        fontsize=10,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.radians((y0 + y1) / 2)))  # as geopandas does for degrees
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="lower right", markerscale=12, fontsize=8)
    ax.text(
        0.01,
        0.01,
        "Boundaries: OSM (ODbL); Sindh P-codes OCHA COD-AB",
        transform=ax.transAxes,
        fontsize=6,
        color="0.4",
    )
    fig.savefig(path, format="png", metadata={"Software": None})
    return Path(path)


def sweep_heatmap(result: SweepResult, path: str | Path, metric: str = "selected") -> Path:
    """Draw ``metric`` over the sweep grid (a heatmap for two parameters, a line for one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.table
    names = result.parameters
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=110)
    if len(names) == 1:
        ax.plot(table[names[0]], table[metric], marker="o")
        ax.set_xlabel(shorten(names[0]))
        ax.set_ylabel(metric)
    else:
        grid = table.pivot_table(index=names[1], columns=names[0], values=metric, aggfunc="first")
        image = ax.imshow(grid.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], rotation=45)
        ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
        ax.set_xlabel(shorten(names[0]))
        ax.set_ylabel(shorten(names[1]))
        fig.colorbar(image, ax=ax, label=metric)
        values = grid.to_numpy(dtype=float)
        if values.size <= 400:
            for (i, j), v in np.ndenumerate(values):
                ax.text(
                    j,
                    i,
                    f"{v:,.0f}" if abs(v) >= 1 else f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="w",
                )
    ax.set_title(f"{shorten(result.scenario_name)}: {metric}")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return Path(path)
