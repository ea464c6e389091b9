"""Evaluate one trigger condition on a series at an as-of date.

For each area, member and day the series is reduced (the day's value, or the sum over the
``accumulate_days`` days ending that day: NaN unless every one of them has a value), compared
with the threshold (``>=``; NaN never passes), required to hold for ``consecutive_days`` days in
a row, and counted across ensemble members. A day passes when the share of members that pass
is at least ``probability`` (default 0.5; a single series passes when it does). The condition
fires for an area when a day within the lead window ``[as_of + first, as_of + last]`` passes.

A return-period threshold is fitted per area on the history source (reduced the same way)
using only the days up to the as-of date, so a backtest never sees the future: the maxima of
the blocks of ``block_days`` days (from the history's first day) that end by the as-of date
are fitted with scipy's ``gumbel_r`` or ``genextreme``, and the threshold is the ``1 - 1/T``
quantile of the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from rahat.engine.triggers.model import Condition, Threshold
from rahat.engine.triggers.series import Series
from rahat.geo.errors import TriggerError

#: Fewest block maxima a return-period fit accepts.
MIN_BLOCKS = 3

#: Share of members that must pass when a condition names no probability.
DEFAULT_PROBABILITY = 0.5


@dataclass(frozen=True)
class ConditionResult:
    """One condition evaluated for every area.

    Attributes
    ----------
    fires
        Whether it fires, per area.
    value
        The highest reduced value in the lead window (the ensemble median per day), per area.
    threshold
        The threshold compared, per area (NaN where a fit was not possible).
    share
        The highest share of members passing on a day of the window, per area.
    first_day
        The first day of the window that passes, per area (NaT: none).
    fits
        Per area, the return-period fit (``distribution``, ``params``, ``blocks``), if any.
    """

    fires: np.ndarray
    value: np.ndarray
    threshold: np.ndarray
    share: np.ndarray
    first_day: np.ndarray
    fits: list[dict[str, Any] | None]


def _row_max(values: np.ndarray) -> np.ndarray:
    """Maximum along the last axis ignoring NaN (NaN where a row has no value)."""
    filled = np.where(np.isnan(values), -np.inf, values)
    top = filled.max(axis=-1) if values.shape[-1] else np.full(values.shape[:-1], -np.inf)
    return np.where(np.isneginf(top), np.nan, top)


def _member_median(values: np.ndarray) -> np.ndarray:
    """The median over members (axis 1) ignoring NaN; the series itself for one member."""
    if values.shape[1] == 1:
        return values[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days stay NaN
        return np.nanmedian(values, axis=1)


def _windows(values: np.ndarray, days: int) -> np.ndarray:
    """Views of the ``days``-day windows ending on each day from the ``days``-th (last axis)."""
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(values, days, axis=-1)


def reduce(values: np.ndarray, accumulate_days: int | None) -> np.ndarray:
    """The daily values (last axis), or their sum over ``accumulate_days`` days ending each day.

    A sum needs a value on every day of its window (else NaN); the first ``days - 1`` days have
    no full window and are NaN. Each window is summed on its own (not as a difference of
    running totals, whose rounding would put a sum equal to a threshold just below it).
    """
    if not accumulate_days or accumulate_days == 1:
        return values.astype(np.float64, copy=False)
    k = accumulate_days
    out = np.full(values.shape, np.nan)
    if values.shape[-1] >= k:
        out[..., k - 1 :] = _windows(values.astype(np.float64, copy=False), k).sum(axis=-1)
    return out  # a missing day makes its windows' sums NaN


def runs_of(passing: np.ndarray, days: int) -> np.ndarray:
    """Whether each day ends a run of at least ``days`` passing days (last axis)."""
    if days <= 1:
        return passing
    out = np.zeros(passing.shape, dtype=bool)
    if passing.shape[-1] >= days:
        out[..., days - 1 :] = _windows(passing, days).all(axis=-1)
    return out


def fit_threshold(maxima: np.ndarray, threshold: Threshold) -> tuple[float, dict[str, Any] | None]:
    """The return-period threshold from block maxima (NaN and no fit when there are too few)."""
    from scipy import stats

    assert threshold.return_period is not None
    sample = maxima[np.isfinite(maxima)]
    if len(sample) < MIN_BLOCKS or np.ptp(sample) == 0:
        return float("nan"), None
    dist = stats.gumbel_r if threshold.distribution == "gumbel" else stats.genextreme
    params = dist.fit(sample)
    level = float(dist.ppf(1.0 - 1.0 / threshold.return_period, *params))
    fit = {
        "distribution": threshold.distribution,
        "params": [round(float(p), 6) for p in params],
        "blocks": len(sample),
        "block_days": threshold.block_days,
        "return_period": threshold.return_period,
        "threshold": round(level, 6),
    }
    return level, fit


def thresholds(
    condition: Condition,
    history: Series | None,
    as_of: np.datetime64,
    n_areas: int,
    cache: dict[tuple[Any, ...], Any] | None = None,
) -> tuple[np.ndarray, list[dict[str, Any] | None]]:
    """The threshold of each area: the value given, or fitted on the history up to ``as_of``.

    Blocks start at the history's first day; only blocks that end on or before ``as_of`` are
    fitted, so the fit changes only when a block completes and ``cache`` (a backtest's, for
    every day it replays) keeps it until then.
    """
    above = condition.above
    if above.value is not None:
        return np.full(n_areas, float(above.value)), [None] * n_areas
    assert history is not None
    n_days = int(np.count_nonzero(history.days <= as_of))
    if n_days == 0:
        raise TriggerError(
            f"the history '{condition.above.history}' starts after the as-of date {as_of}"
        )
    block = above.block_days
    n_blocks = n_days // block
    key = (condition.model_dump_json(), id(history), n_blocks)
    if cache is not None and key in cache:
        found: tuple[np.ndarray, list[dict[str, Any] | None]] = cache[key]
        return found
    levels = np.full(n_areas, np.nan)
    fits: list[dict[str, Any] | None] = [None] * n_areas
    if n_blocks > 0:
        past = history.values[:, :, : n_blocks * block]
        daily = _member_median(reduce(past, condition.reduce.accumulate_days))
        maxima = _row_max(daily.reshape(n_areas, n_blocks, block))
        for area in range(n_areas):
            levels[area], fits[area] = fit_threshold(maxima[area], above)
    if cache is not None:
        cache[key] = (levels, fits)
    return levels, fits


def lead_window(as_of: np.datetime64, condition: Condition) -> tuple[np.datetime64, np.datetime64]:
    """The first and last day of the condition's lead window at ``as_of``."""
    first, last = condition.lead_days
    return as_of + np.timedelta64(first, "D"), as_of + np.timedelta64(last, "D")


def window_of(series: Series, as_of: np.datetime64, condition: Condition) -> np.ndarray:
    """Positions of the series' days in the condition's lead window (refuses an empty one)."""
    first, last = lead_window(as_of, condition)
    picked = np.flatnonzero((series.days >= first) & (series.days <= last))
    if len(picked) == 0:
        raise TriggerError(
            f"source '{condition.source}': the window {first} .. {last} (as-of date {as_of}, "
            f"lead days {list(condition.lead_days)}) is outside its days "
            f"{series.days[0]} .. {series.days[-1]}"
        )
    return picked


def evaluate_condition(
    condition: Condition,
    series: Series,
    history: Series | None,
    as_of: np.datetime64,
    cache: dict[tuple[Any, ...], Any] | None = None,
) -> ConditionResult:
    """Evaluate ``condition`` for every area of ``series`` at ``as_of`` (``cache``: fits)."""
    n_areas = len(series.areas)
    if condition.probability is not None and series.members < 2:
        raise TriggerError(
            f"source '{condition.source}' has no ensemble-member axis, and the condition asks "
            f"for a probability across members ({condition.probability})"
        )
    picked = window_of(series, as_of, condition)
    level, fits = thresholds(condition, history, as_of, n_areas, cache)
    reduced = reduce(series.values, condition.reduce.accumulate_days)
    with np.errstate(invalid="ignore"):
        passing = reduced >= level[:, None, None]
    passing = runs_of(passing, condition.consecutive_days)[:, :, picked]
    share = passing.mean(axis=1)  # [area, day]
    wanted = condition.probability if condition.probability is not None else DEFAULT_PROBABILITY
    day_fires = share >= wanted - 1e-12
    fires = day_fires.any(axis=1)
    first = np.where(fires, np.argmax(day_fires, axis=1), 0)
    first_day = np.where(fires, series.days[picked][first], np.datetime64("NaT"))
    value = _row_max(_member_median(reduced[:, :, picked]))
    return ConditionResult(fires, value, level, share.max(axis=1), first_day, fits)
