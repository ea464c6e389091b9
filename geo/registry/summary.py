"""Summaries of a registry for people: counts by province, PMT distribution, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rahat.geo.registry.model import Registry

#: The BISP 2022 flood-relief cut-off: households scoring at or below it are the bottom ~40%.
BISP_PMT_CUTOFF = 32.0


def describe(registry: Registry) -> dict[str, object]:
    """Return a JSON-serialisable summary of a registry.

    Parameters
    ----------
    registry
        The households.

    Returns
    -------
    dict
        ``households``, ``people``, ``bounds``, ``share_pmt_le_32`` and ``by_province`` (a list
        of rows with households, people and the share at PMT <= 32).
    """
    frame = registry.frame
    pmt = registry.array("pmt_score")
    poor = pmt <= np.float32(BISP_PMT_CUTOFF)
    by_province = (
        pd.DataFrame(
            {
                "province": frame["province"].astype(str),
                "people": frame["household_size"].to_numpy(np.int64),
                "poor": poor,
            }
        )
        .groupby("province", sort=True)
        .agg(households=("people", "size"), people=("people", "sum"), poor=("poor", "mean"))
        .reset_index()
    )
    return {
        "households": len(registry),
        "people": int(frame["household_size"].to_numpy(np.int64).sum()),
        "bounds": list(registry.bounds()),
        "share_pmt_le_32": float(poor.mean()) if len(registry) else 0.0,
        "by_province": [
            {
                "province": province,
                "households": int(households),
                "people": int(people),
                "share_pmt_le_32": round(float(poor_share), 4),
            }
            for province, households, people, poor_share in zip(
                by_province["province"],
                by_province["households"].to_numpy(),
                by_province["people"].to_numpy(),
                by_province["poor"].to_numpy(),
                strict=True,
            )
        ],
    }
