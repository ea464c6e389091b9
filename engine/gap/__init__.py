"""Whom the registry misses: survey, registry and census estimates of the coverage gap."""

from rahat.engine.gap.direct import b40_threshold, direct_estimates
from rahat.engine.gap.estimate import GAP_COLUMNS, GapOptions, estimate_gap
from rahat.engine.gap.footprint import Footprint
from rahat.engine.gap.small_area import fay_herriot_shares, fit_fay_herriot
from rahat.engine.gap.table import GapResult, gap_table

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
