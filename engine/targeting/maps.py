"""PNG figures for coordinators: the caseload map and the sweep heatmap (matplotlib, Agg).

The map shows district boundaries shaded by selected households, the hazard footprint as the
exposed households (light blue dots) and the selected households (dark red dots), with a title
giving the headline totals: something to paste into a situation report. Point layers are thinned
deterministically (every k-th row) to at most 150,000 dots. The PNG carries no timestamp. Text a
user chose (the scenario name, swept parameter names) is shortened to 80 characters
(:func:`~rahat.engine.targeting.scenario.shorten`), so matplotlib never lays out long text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rahat.engine.targeting.scenario import shorten

if TYPE_CHECKING:
    from rahat.engine.targeting.caseload import Caseload
    from rahat.engine.targeting.sweep import SweepResult

_MAX_DOTS = 150_000


def _thin(mask: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(mask)
    step = max(len(idx) // _MAX_DOTS, 1)
    return idx[::step]


def caseload_map(caseload: Caseload, path: str | Path) -> Path:
    """Draw the caseload map into ``path`` (PNG).

    Parameters
    ----------
    caseload
        The evaluated caseload.
    path
        Output file (written directly; callers wanting atomicity pass a temporary name).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rahat.geo.boundaries import districts

    frame = caseload.frame
    lon = frame["lon"].to_numpy()
    lat = frame["lat"].to_numpy()
    selected = frame["selected"].to_numpy()
    exposed = frame["exposed"].to_numpy()
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    if len(frame):
        pad = 0.5
        x0, x1 = float(np.nanmin(lon)) - pad, float(np.nanmax(lon)) + pad
        y0, y1 = float(np.nanmin(lat)) - pad, float(np.nanmax(lat)) + pad
    else:
        x0, x1, y0, y1 = 60.8, 77.9, 23.6, 37.1
    shapes = districts()
    shapes = shapes.cx[x0:x1, y0:y1]
    counts = frame.loc[selected, "district"].astype(str).value_counts()
    shapes = shapes.assign(selected=shapes["district"].map(counts).fillna(0).astype(float))
    shapes.plot(
        ax=ax,
        column="selected",
        cmap="Oranges",
        edgecolor="0.45",
        linewidth=0.4,
        legend=True,
        legend_kwds={"label": "selected households per district", "shrink": 0.6},
    )
    fp = _thin(exposed)
    ax.scatter(lon[fp], lat[fp], s=0.3, c="#4a90d9", alpha=0.35, linewidths=0, label="exposed")
    sel = _thin(selected)
    ax.scatter(lon[sel], lat[sel], s=0.5, c="#8b0000", alpha=0.6, linewidths=0, label="selected")
    for row in shapes.itertuples():
        if row.selected > 0:
            c = row.geometry.representative_point()
            ax.annotate(row.district, (c.x, c.y), fontsize=6, ha="center", color="0.15")
    t = caseload.totals
    ax.set_title(
        f"{shorten(caseload.scenario.name)}: {t['selected']:,} households, {t['people']:,} people, "
        f"Rs {t['amount']:,}\nexposed reached: "
        + (f"{t['exposed_reached_share']:.0%}" if t["exposed_reached_share"] is not None else "-"),
        fontsize=10,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
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
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
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
