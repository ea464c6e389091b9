"""Write the outreach plan: ``outreach_sites.csv``, ``outreach_map.png``, ``manifest.json``.

All or nothing: the files are built in a temporary sibling folder and renamed into place
(:mod:`rahat.engine.targeting.folders`), as :mod:`rahat.engine.gap.outputs` does for the gap
table. Yields are written with one decimal (expected households), shares with four; the
manifest records the inputs' sha256, the options, the figures and each file's sha256, and no
timestamp, so the same inputs give the same bytes. The map is drawn with matplotlib's Agg canvas
(no ``pyplot``), as :mod:`rahat.engine.targeting.maps` draws the caseload map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.gap.outputs import write_folder
from rahat.engine.gap.outreach import OutreachPlan

#: File names of the outputs.
SITES_FILE = "outreach_sites.csv"
MAP_FILE = "outreach_map.png"
#: Sites labelled with their rank on the map.
_LABELLED = 15


def sites_csv_frame(sites: pd.DataFrame) -> pd.DataFrame:
    """``sites`` as written: yields to 0.1 household, shares to 4 decimals, degrees to 6."""
    out = sites.copy()
    for name in ("expected_yield", "cumulative_yield", "in_footprint_yield", "referred_yield"):
        out[name] = out[name].to_numpy(np.float64).round(1)
    out["cumulative_share"] = out["cumulative_share"].to_numpy(np.float64).round(4)
    for name in ("lon", "lat"):
        out[name] = out[name].to_numpy(np.float64).round(6)
    return out


def _footprint_line(figures: dict[str, Any]) -> str:
    """The title's line on the footprint (empty without one)."""
    inside = figures["demand"]["in_footprint"]
    if inside is None:
        return ""
    reached = figures["plan"]["reach_in_footprint"]
    return f"\nin the footprint: {reached:,.0f} of {inside:,.0f} reached"


def _referred_line(figures: dict[str, Any]) -> str:
    """The title's line on the referred households (empty without referrals)."""
    referred = figures["demand"].get("referred")
    if referred is None:
        return ""
    reached = figures["plan"]["reach_referred"]
    return f"\nreferred by claims: {reached:,.0f} of {referred:,.0f} households reached"


def outreach_map(plan: OutreachPlan, path: str | Path) -> Path:
    """Draw the plan into ``path`` (PNG): districts shaded by demand, sites and centres.

    Parameters
    ----------
    plan
        The plan.
    path
        Output file (written directly; :func:`write_outreach` passes a temporary folder).

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from rahat.engine.targeting.maps import _district_patches
    from rahat.geo.boundaries import districts

    demand, sites, centres = plan.demand, plan.sites, plan.centres
    fig = Figure(figsize=(8, 8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.09, 0.07, 0.74, 0.85))
    x0, x1, y0, y1 = 60.8, 77.9, 23.6, 37.1
    shapes = districts()
    per_district = demand.groupby("unit")["households"].sum()
    values = shapes["district"].map(per_district).fillna(0).to_numpy(dtype=float)
    norm = Normalize(vmin=0.0, vmax=float(values.max(initial=0.0)) or 1.0)
    ax.add_collection(_district_patches(shapes, values, norm))
    fig.colorbar(
        ScalarMappable(norm=norm, cmap="Oranges"),
        cax=fig.add_axes((0.86, 0.3, 0.025, 0.4)),
        label="expected unregistered bottom-40% households per district",
    )
    size = 2 + 60 * np.sqrt(demand["households"] / max(float(demand["households"].max()), 1e-9))
    inside = demand["in_footprint"].to_numpy(bool)
    referred = demand["referred"].to_numpy(bool)
    layers = (
        (~inside & ~referred, "0.35", "demand"),
        (inside & ~referred, "#4a90d9", "in footprint"),
        (referred, "#2e8b57", "referred by claims"),
    )
    for mask, colour, label in layers:
        if mask.any() or label == "demand":
            ax.scatter(
                demand["lon"][mask],
                demand["lat"][mask],
                s=size[mask],
                c=colour,
                alpha=0.45,
                linewidths=0,
                label=f"{label} (area ~ households)",
                zorder=2,
            )
    centre_style: dict[str, Any] = {
        "s": 10,
        "marker": "^",
        "c": "0.1",
        "linewidths": 0,
        "zorder": 3,
    }
    ax.scatter(centres["lon"], centres["lat"], label="centre (one per tehsil)", **centre_style)
    site_style: dict[str, Any] = {
        "s": 70,
        "marker": "*",
        "c": "#8b0000",
        "edgecolors": "white",
        "zorder": 4,
    }
    ax.scatter(sites["lon"], sites["lat"], label="planned site", linewidths=0.4, **site_style)
    for rank, x, y in zip(sites["rank"][:_LABELLED], sites["lon"], sites["lat"], strict=False):
        ax.annotate(str(rank), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    plan_fig, base = plan.figures["plan"], plan.figures["baseline"]
    share = plan_fig["share"]
    ax.set_title(
        f"Outreach plan: {len(sites)} sites reach {plan_fig['reach']:,.0f} expected unregistered "
        f"poor households ({share:.0%})\none centre per tehsil ({base['centres']}): "
        f"{base['reach']:,.0f} ({base['share']:.0%}); {plan.figures['coverage']}"
        + _footprint_line(plan.figures)
        + _referred_line(plan.figures),
        fontsize=9,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.radians((y0 + y1) / 2)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="lower right", fontsize=7, markerscale=0.8)
    ax.text(
        0.01,
        0.01,
        "Boundaries: OSM (ODbL); settlements GeoNames (CC BY)",
        transform=ax.transAxes,
        fontsize=6,
        color="0.4",
    )
    fig.savefig(path, format="png", metadata={"Software": None})
    return Path(path)


def write_outreach(
    plan: OutreachPlan, out_dir: str | Path, provenance: dict[str, Any]
) -> dict[str, Path]:
    """Write the plan's sites, map and manifest into ``out_dir`` (created or replaced whole).

    Parameters
    ----------
    plan
        :func:`~rahat.engine.gap.outreach.plan_outreach`'s plan.
    out_dir
        Output folder.
    provenance
        Inputs, their sha256 and the options, recorded in the manifest with the figures.

    Returns
    -------
    dict
        ``sites``, ``map`` and ``manifest`` -> their paths.
    """

    def write(temp: Path) -> dict[str, str]:
        sites_csv_frame(plan.sites).to_csv(temp / SITES_FILE, index=False, lineterminator="\n")
        outreach_map(plan, temp / MAP_FILE)
        return {"sites": SITES_FILE, "map": MAP_FILE}

    return write_folder(out_dir, write, {**provenance, "figures": plan.figures})
