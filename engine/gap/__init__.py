"""Whom the registry misses: survey, registry and census estimates of the coverage gap.

The names below are loaded on first use (:pep:`562`): importing a light submodule such as
:mod:`rahat.engine.gap.inputs` (what ``rahat serve`` reads at start) does not import the
estimators and SciPy with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rahat.engine.gap.direct import b40_threshold, direct_estimates
    from rahat.engine.gap.estimate import GAP_COLUMNS, GapOptions, estimate_gap
    from rahat.engine.gap.footprint import Footprint
    from rahat.engine.gap.small_area import fay_herriot_shares, fit_fay_herriot
    from rahat.engine.gap.table import GapResult, gap_table

#: Public name -> the submodule that defines it.
_HOMES = {
    "b40_threshold": "direct",
    "direct_estimates": "direct",
    "GAP_COLUMNS": "estimate",
    "GapOptions": "estimate",
    "estimate_gap": "estimate",
    "Footprint": "footprint",
    "fay_herriot_shares": "small_area",
    "fit_fay_herriot": "small_area",
    "GapResult": "table",
    "gap_table": "table",
}

__all__ = [
    "GAP_COLUMNS",
    "Footprint",
    "GapOptions",
    "GapResult",
    "b40_threshold",
    "direct_estimates",
    "estimate_gap",
    "fay_herriot_shares",
    "fit_fay_herriot",
    "gap_table",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
