"""Whom the registry misses: survey, registry and census estimates of the coverage gap."""

from rahat.engine.gap.direct import b40_threshold, direct_estimates
from rahat.engine.gap.estimate import GAP_COLUMNS, GapOptions, estimate_gap
from rahat.engine.gap.small_area import fay_herriot_shares, fit_fay_herriot

__all__ = [
    "GAP_COLUMNS",
    "GapOptions",
    "b40_threshold",
    "direct_estimates",
    "estimate_gap",
    "fay_herriot_shares",
    "fit_fay_herriot",
]
