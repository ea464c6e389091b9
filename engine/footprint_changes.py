"""Who enters and who leaves a footprint between two versions of one event (day 3 vs day 7).

Both versions are joined to the registry with the overlay engine (each in its own CRS, never
resampled); a household is *in* a version when its hazard class there is at least 1. The area
comparison class by class is :func:`rahat.geo.hazards.diff_hazards`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rahat.engine.overlay import overlay
from rahat.geo.hazards.layer import HazardLayer
from rahat.geo.registry.model import Registry

#: Statuses of a household between the old and the new version, in output order.
STATUSES: tuple[str, ...] = ("entered", "left", "stayed")


@dataclass(frozen=True)
class FootprintChanges:
    """Households entering and leaving a footprint.

    Attributes
    ----------
    totals
        ``entered``, ``left``, ``stayed`` (in both) and ``old``/``new`` (in each version).
    by_district
        One row per province and district with a household in either version: ``entered``,
        ``left``, ``stayed``, sorted by province and district.
    households
        ``household_id`` and ``status`` of every household in either version, by id.
    """

    totals: dict[str, int]
    by_district: pd.DataFrame
    households: pd.DataFrame


def footprint_changes(registry: Registry, old: HazardLayer, new: HazardLayer) -> FootprintChanges:
    """Compare which households two versions of a footprint cover.

    Parameters
    ----------
    registry
        The households.
    old, new
        The two versions (any formats and CRSs the readers accept).

    Returns
    -------
    FootprintChanges
        Totals, a by-district table and the status of each household concerned.
    """
    layers = [dataclasses.replace(old, name="old"), dataclasses.replace(new, name="new")]
    exposure = overlay(registry, layers)
    in_old = exposure.hazards["old"].hazard_class >= 1
    in_new = exposure.hazards["new"].hazard_class >= 1
    status = np.full(len(in_old), "", dtype=object)
    status[in_new & ~in_old] = "entered"
    status[in_old & ~in_new] = "left"
    status[in_old & in_new] = "stayed"
    concerned = in_old | in_new
    frame = pd.DataFrame(
        {
            "household_id": registry.array("household_id")[concerned],
            "province": registry.frame["province"].astype(str).to_numpy()[concerned],
            "district": registry.frame["district"].astype(str).to_numpy()[concerned],
            "status": status[concerned],
        }
    )
    by_district = (
        pd.crosstab([frame["province"], frame["district"]], frame["status"])
        .reindex(columns=list(STATUSES), fill_value=0)
        .reset_index()
        .sort_values(["province", "district"], ignore_index=True)
    )
    by_district.columns.name = None
    totals = {name: int((frame["status"] == name).sum()) for name in STATUSES}
    totals |= {"old": int(in_old.sum()), "new": int(in_new.sum())}
    households = frame[["household_id", "status"]].sort_values("household_id", ignore_index=True)
    return FootprintChanges(totals=totals, by_district=by_district, households=households)


def area_changes(old: HazardLayer, new: HazardLayer) -> list[dict[str, object]]:
    """Km² per class added, removed and kept, as rows of plain Python values.

    See :func:`rahat.geo.hazards.diff_hazards`.
    """
    from rahat.geo.hazards import diff_hazards

    return [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in diff_hazards(old, new).to_dict(orient="records")
    ]
