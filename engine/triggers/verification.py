"""Verification of trigger firings against observed floods: contingency table, scores, lead times.

Pure functions over NumPy arrays (no I/O). Inputs are boolean arrays of shape
``(areas, days)``, one row per area (tehsil, district) and one column per day of the backtest.

Definitions
-----------
Each (area, day) pair is one yes/no forecast case:

- the trigger *fired* on that day in that area (``fired[a, d]``);
- the event is *observed* when the area floods on that day or, with ``window`` > 0, on any of
  the ``window`` days after it (``observed[a, d : d + window + 1]`` has a ``True``; near the
  end of the record only the days inside it count).

Then per day: *hit* = fired and observed, *miss* = observed but not fired, *false alarm* =
fired but not observed, *correct negative* = neither. Tables are summed over days per area;
the overall table is the sum over areas (pooled).

Scores (each a binomial proportion, with a Wilson score interval, :func:`wilson_interval`):

- POD (probability of detection) = hits / (hits + misses);
- FAR (false alarm ratio) = false alarms / (hits + false alarms);
- CSI (critical success index) = hits / (hits + misses + false alarms);
- activation frequency = fired days / days.

A zero denominator gives ``NaN`` for the score and both interval bounds (never an error,
never ``None``).

Lead time (:func:`lead_times`): the number of days from the *first* firing inside the
window ``[onset - window, onset]`` to the observed onset (the first observed day). A firing on
the onset day has lead time 0; an onset with no firing in its window, or an area that never
floods, has no lead time (``NaN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Names of the four scores, in table order.
SCORES: tuple[str, ...] = ("pod", "far", "csi", "activation")

#: Index label of the pooled row in :func:`verification_table`.
OVERALL = "overall"


@dataclass(frozen=True)
class Contingency:
    """2 x 2 contingency counts per area (1-D ``int64`` arrays, one value per area).

    Attributes
    ----------
    hits
        Days fired and observed.
    misses
        Days observed but not fired.
    false_alarms
        Days fired but not observed.
    correct_negatives
        Days neither fired nor observed.
    """

    hits: np.ndarray
    misses: np.ndarray
    false_alarms: np.ndarray
    correct_negatives: np.ndarray

    @property
    def days(self) -> np.ndarray:
        """Days per area (the sum of the four counts)."""
        return self.hits + self.misses + self.false_alarms + self.correct_negatives

    @property
    def fired_days(self) -> np.ndarray:
        """Days the trigger fired per area (hits + false alarms)."""
        return self.hits + self.false_alarms

    def overall(self) -> Contingency:
        """Return the pooled table: every count summed over areas (arrays of length 1)."""
        return Contingency(
            *(
                np.array([int(np.sum(c))], dtype=np.int64)
                for c in (self.hits, self.misses, self.false_alarms, self.correct_negatives)
            )
        )


@dataclass(frozen=True)
class Score:
    """One score per area with its confidence interval (1-D ``float64`` arrays, ``NaN`` if 0/0).

    Attributes
    ----------
    value
        The proportion.
    low, high
        Wilson score interval bounds.
    """

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _as_cases(array: np.ndarray, name: str) -> np.ndarray:
    cases = np.asarray(array)
    if cases.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (areas, days) array, got shape {cases.shape}")
    if cases.dtype != np.bool_:
        raise TypeError(f"{name} must be boolean, got {cases.dtype}")
    return cases


def observed_within(observed: np.ndarray, window: int = 0) -> np.ndarray:
    """Mark each day on which a flood is observed that day or within ``window`` days after it.

    Parameters
    ----------
    observed
        Boolean ``(areas, days)``: flooded on that day.
    window
        Days after each day that still count (0: the same day only).

    Returns
    -------
    numpy.ndarray
        Boolean ``(areas, days)``: ``observed[a, d : d + window + 1].any()``.
    """
    cases = _as_cases(observed, "observed")
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    counts = np.concatenate(
        [np.zeros((cases.shape[0], 1), dtype=np.int64), np.cumsum(cases, axis=1)], axis=1
    )
    days = cases.shape[1]
    start = np.arange(days)
    stop = np.minimum(start + window + 1, days)
    return np.asarray((counts[:, stop] - counts[:, start]) > 0)


def contingency(fired: np.ndarray, observed: np.ndarray, window: int = 0) -> Contingency:
    """Count hits, misses, false alarms and correct negatives per area.

    Parameters
    ----------
    fired
        Boolean ``(areas, days)``: the trigger fired on that day in that area.
    observed
        Boolean ``(areas, days)``: the area flooded on that day.
    window
        A firing day counts as observed when a flood is observed that day or within
        ``window`` days after it (see :func:`observed_within` and the module docstring).

    Returns
    -------
    Contingency
        Counts per area; :meth:`Contingency.overall` pools them.
    """
    fire = _as_cases(fired, "fired")
    seen = observed_within(observed, window)
    if fire.shape != seen.shape:
        raise ValueError(f"fired {fire.shape} and observed {seen.shape} differ in shape")

    def count(mask: np.ndarray) -> np.ndarray:
        return np.count_nonzero(mask, axis=1).astype(np.int64)

    return Contingency(
        hits=count(fire & seen),
        misses=count(~fire & seen),
        false_alarms=count(fire & ~seen),
        correct_negatives=count(~fire & ~seen),
    )


def wilson_interval(
    successes: np.ndarray | int, trials: np.ndarray | int, confidence: float = 0.95
) -> Score:
    """Return the proportion ``successes / trials`` and its Wilson score interval.

    With ``p = k / n`` and ``z`` the ``(1 + confidence) / 2`` quantile of the standard normal
    (``scipy.stats.norm.ppf``), the interval is ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) /
    (1 + z²/n)`` (Wilson 1927), the same as statsmodels'
    ``proportion_confint(k, n, method="wilson")``.

    Parameters
    ----------
    successes, trials
        Counts (scalars or arrays of the same shape); ``trials == 0`` gives ``NaN``.
    confidence
        Coverage of the interval, in (0, 1).

    Returns
    -------
    Score
        ``value``, ``low`` and ``high`` as 1-D float arrays.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    k = np.atleast_1d(np.asarray(successes, dtype=np.float64))
    n = np.atleast_1d(np.asarray(trials, dtype=np.float64))
    z = float(norm.ppf(0.5 + confidence / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        z2n = np.where(n > 0, z * z / n, np.nan)
        centre = (p + z2n / 2.0) / (1.0 + z2n)
        half = z / (1.0 + z2n) * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return Score(
        value=p, low=np.clip(centre - half, 0.0, 1.0), high=np.clip(centre + half, 0.0, 1.0)
    )


def scores(table: Contingency, confidence: float = 0.95) -> dict[str, Score]:
    """Compute POD, FAR, CSI and activation frequency, each with its Wilson interval.

    Parameters
    ----------
    table
        Counts from :func:`contingency` (per area, or pooled with
        :meth:`Contingency.overall`).
    confidence
        Coverage of the intervals.

    Returns
    -------
    dict of str to Score
        Keyed by :data:`SCORES`; a zero denominator gives ``NaN`` (see the module docstring).
    """
    h, m, f = table.hits, table.misses, table.false_alarms
    return {
        "pod": wilson_interval(h, h + m, confidence),
        "far": wilson_interval(f, h + f, confidence),
        "csi": wilson_interval(h, h + m + f, confidence),
        "activation": wilson_interval(table.fired_days, table.days, confidence),
    }


def onsets(observed: np.ndarray) -> np.ndarray:
    """Return the first observed day per area, ``-1`` where the area never floods."""
    cases = _as_cases(observed, "observed")
    return np.where(cases.any(axis=1), cases.argmax(axis=1), -1).astype(np.int64)


def lead_times(fired: np.ndarray, observed_onset: np.ndarray, window: int) -> np.ndarray:
    """Days from the first firing in ``[onset - window, onset]`` to the observed onset, per area.

    Parameters
    ----------
    fired
        Boolean ``(areas, days)``.
    observed_onset
        Day index of the observed onset per area (see :func:`onsets`); negative: no flood.
    window
        How many days before the onset a firing still counts (inclusive).

    Returns
    -------
    numpy.ndarray
        ``float64`` per area: ``onset - first firing day`` (0 to ``window``), ``NaN`` where
        the area has no onset or no firing in its window.
    """
    fire = _as_cases(fired, "fired")
    onset = np.asarray(observed_onset, dtype=np.int64)
    if onset.shape != (fire.shape[0],):
        raise ValueError(f"observed_onset must have one value per area ({fire.shape[0]})")
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    day = np.arange(fire.shape[1])
    lower = onset[:, None] - window
    in_window = fire & (day >= lower) & (day <= onset[:, None]) & (onset[:, None] >= 0)
    first = np.where(in_window.any(axis=1), in_window.argmax(axis=1), -1)
    return np.where(first >= 0, (onset - first).astype(np.float64), np.nan)


def verification_table(
    fired: np.ndarray,
    observed: np.ndarray,
    areas: Sequence[str] | None = None,
    *,
    window: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Tabulate counts, scores with intervals and lead times by area and overall.

    Parameters
    ----------
    fired, observed
        Boolean ``(areas, days)`` arrays.
    areas
        Area labels (P-codes), one per row; default ``"0"``, ``"1"``, ...
    window
        Event window in days, for the contingency table and the lead times.
    confidence
        Coverage of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        Index ``area`` (the areas in order, then :data:`OVERALL`). Columns ``days``,
        ``fired_days``, ``hits``, ``misses``, ``false_alarms``, ``correct_negatives``, then
        ``<score>``, ``<score>_low``, ``<score>_high`` for each of :data:`SCORES`, then
        ``lead_days`` (per area; overall: the median over areas that have one, ``NaN`` if
        none).
    """
    per_area = contingency(fired, observed, window)
    labels = [str(i) for i in range(len(per_area.hits))] if areas is None else list(areas)
    if len(labels) != len(per_area.hits):
        raise ValueError(f"{len(labels)} area labels for {len(per_area.hits)} areas")
    leads = lead_times(fired, onsets(observed), window)
    pooled_lead = float(np.median(leads[~np.isnan(leads)])) if (~np.isnan(leads)).any() else np.nan

    def block(table: Contingency, lead: np.ndarray) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {
            "days": table.days,
            "fired_days": table.fired_days,
            "hits": table.hits,
            "misses": table.misses,
            "false_alarms": table.false_alarms,
            "correct_negatives": table.correct_negatives,
        }
        for name, score in scores(table, confidence).items():
            columns[name] = score.value
            columns[f"{name}_low"] = score.low
            columns[f"{name}_high"] = score.high
        columns["lead_days"] = lead
        return columns

    frames = [
        pd.DataFrame(block(per_area, leads), index=labels),
        pd.DataFrame(block(per_area.overall(), np.array([pooled_lead])), index=[OVERALL]),
    ]
    table = pd.concat(frames)
    table.index.name = "area"
    return table
