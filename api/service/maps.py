"""The map callers under the k threshold see: districts shaded by published figures only.

No household is drawn. A district's selected households are shown exactly where the run's
district summary shows them (:func:`rahat.api.service.aggregates.published`); blanked districts
are hatched, and the title carries the national totals only if the summary shows them.
Districts are matched to their boundaries by code (:mod:`rahat.geo.units`), never by name.
The PNG is drawn once per run and threshold and kept next to the caseload.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rahat.api.service.aggregates import published
from rahat.api.service.storage import atomic_write_bytes
from rahat.geo.units import Level, gazetteer

#: Extent of Pakistan (lon/lat), used when a run has no households.
_COUNTRY = (60.8, 77.9, 23.6, 37.1)


def _district_codes(frame: pd.DataFrame) -> list[Any]:
    return list(gazetteer().codes_of(frame)[Level.DISTRICT])


def _title(totals: dict[str, Any], k: int) -> str:
    if totals["suppressed"]:
        return f"Selected households by district (national totals withheld: k = {k})"
    return (
        f"Selected households by district: {totals['selected']:,} households, "
        f"{totals['persons_selected']:,} people, Rs {totals['benefit']:,.0f}"
    )


@dataclass(frozen=True)
class MapFigures:
    """What the aggregate map shows: published district figures and blanked districts."""

    #: District code -> selected households, for districts whose figures are published.
    shown: dict[str, int]
    #: Codes of districts of the run whose figures are blanked.
    hidden: frozenset[str]
    title: str


def map_figures(run_dir: Path, k: int) -> MapFigures:
    """The figures of the aggregate map: exactly the run's published district summary."""
    view = published(run_dir, k)
    rows = pd.DataFrame(view["levels"]["district"])
    shown: dict[str, int] = {}
    hidden: set[str] = set()
    if len(rows):
        for code, blank, selected in zip(
            _district_codes(rows), rows["suppressed"], rows["selected"], strict=True
        ):
            if blank:
                hidden.add(code)
            else:
                shown[code] = int(selected)
    hidden -= set(shown)
    return MapFigures(shown, frozenset(hidden), _title(view["totals"], k))


def _draw(figures: MapFigures, k: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from rahat.geo.boundaries import districts

    shapes = districts()
    shapes["code"] = _district_codes(shapes[["province", "district", "district_pcode"]])
    shown = shapes[shapes["code"].isin(list(figures.shown))]
    shown = shown.assign(selected=shown["code"].map(figures.shown).astype(float))
    hidden = shapes[shapes["code"].isin(list(figures.hidden))]
    present = shapes["code"].isin([*figures.shown, *figures.hidden])

    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    shapes.plot(ax=ax, color="white", edgecolor="0.75", linewidth=0.3)
    if len(shown):
        shown.plot(
            ax=ax,
            column="selected",
            cmap="Oranges",
            edgecolor="0.45",
            linewidth=0.4,
            legend=True,
            legend_kwds={"label": "selected households per district", "shrink": 0.6},
        )
    if len(hidden):
        hidden.plot(ax=ax, color="0.85", edgecolor="0.45", linewidth=0.4, hatch="///")
    if present.any():
        x0, y0, x1, y1 = shapes[present].total_bounds
        x0, x1, y0, y1 = x0 - 0.3, x1 + 0.3, y0 - 0.3, y1 + 0.3
    else:
        x0, x1, y0, y1 = _COUNTRY
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(figures.title, fontsize=10)
    ax.legend(
        handles=[Patch(facecolor="0.85", edgecolor="0.45", hatch="///", label="figures withheld")],
        loc="lower right",
        fontsize=8,
    )
    ax.text(
        0.01,
        0.01,
        f"No household is shown; figures of fewer than {k} households are withheld. "
        "Boundaries: OSM (ODbL); Sindh P-codes OCHA COD-AB",
        transform=ax.transAxes,
        fontsize=6,
        color="0.4",
    )
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def aggregate_map(run_dir: Path, k: int) -> Path:
    """Return the aggregate map of the run in ``run_dir`` for threshold ``k``, drawing it once.

    Parameters
    ----------
    run_dir
        Artifact folder of a finished run.
    k
        Suppression threshold.

    Returns
    -------
    pathlib.Path
        ``map-k<k>.png`` in ``run_dir`` (written atomically).
    """
    path = run_dir / f"map-k{k}.png"
    caseload = run_dir / "caseload.parquet"
    if path.is_file() and path.stat().st_mtime_ns >= caseload.stat().st_mtime_ns:
        return path
    return atomic_write_bytes(path, _draw(map_figures(run_dir, k), k))
