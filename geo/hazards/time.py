"""Reduce a layer with a time axis to one grid: max over a window, value at a time, duration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from rahat.geo.errors import SchemaError

Mode = Literal["max", "at", "duration"]


def to_datetime(value: Any) -> datetime:
    """Return ``value`` (ISO string, ``datetime``, ``numpy.datetime64``) as a UTC datetime."""
    import pandas as pd

    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def parse_time_text(text: str | None) -> datetime | None:
    """Parse a time found in file metadata (ISO or TIFF ``YYYY:MM:DD HH:MM:SS``), else ``None``."""
    if not text:
        return None
    text = text.strip()
    for fmt in ("%Y:%m:%d %H:%M:%S",):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        return to_datetime(text)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class TimeSelection:
    """How to turn a time axis into one value per cell.

    Build it with :meth:`max_over`, :meth:`at_time` or :meth:`duration_above`.

    Parameters
    ----------
    mode
        ``"max"``: maximum over the window; ``"at"``: the step nearest to ``at``;
        ``"duration"``: number of steps with value at least ``threshold`` (compared in the
        values' dtype) within the window.
    start, end
        Window bounds (inclusive); ``None`` is open.
    at
        Time for ``"at"``.
    threshold
        Threshold for ``"duration"``.
    """

    mode: Mode
    start: datetime | None = None
    end: datetime | None = None
    at: datetime | None = None
    threshold: float | None = None

    @classmethod
    def max_over(cls, start: Any = None, end: Any = None) -> TimeSelection:
        """Maximum over ``[start, end]`` (the whole axis by default)."""
        return cls("max", _opt(start), _opt(end))

    @classmethod
    def at_time(cls, at: Any) -> TimeSelection:
        """Value at the time step nearest to ``at``."""
        return cls("at", at=to_datetime(at))

    @classmethod
    def duration_above(cls, threshold: float, start: Any = None, end: Any = None) -> TimeSelection:
        """Count the time steps with value at least ``threshold`` within ``[start, end]``."""
        return cls("duration", _opt(start), _opt(end), threshold=float(threshold))


def _opt(value: Any) -> datetime | None:
    return None if value is None else to_datetime(value)


@dataclass(frozen=True)
class TimeReduction:
    """Result of reducing a time axis."""

    values: np.ndarray
    valid_time: tuple[datetime, datetime]
    steps: int
    note: str


def reduce_time(
    times: list[datetime],
    read_step: Callable[[int], np.ndarray],
    selection: TimeSelection,
    *,
    source: str,
) -> TimeReduction:
    """Reduce a stack of 2-D steps to one grid, reading one step at a time.

    Parameters
    ----------
    times
        Time of each step, ascending.
    read_step
        Returns the 2-D values of step ``i`` (NaN for no data).
    selection
        What to compute.
    source
        File name for messages.

    Returns
    -------
    TimeReduction
        ``values`` keeps the steps' own dtype for ``"at"`` and ``"max"`` (a float32 layer stays
        float32, so thresholds compare in its dtype as for a GeoTIFF; NaN where a cell never had
        data); for durations it counts steps (float64, NaN where a cell never had data).

    Raises
    ------
    rahat.geo.errors.SchemaError
        If the window or time lies outside the file's time range.
    """
    span = f"{times[0].isoformat()} .. {times[-1].isoformat()}"
    if selection.mode == "at":
        assert selection.at is not None
        target = selection.at
        if target < times[0] or target > times[-1]:
            raise SchemaError(
                f"time {target.isoformat()} is outside the file's time range {span}; choose "
                "a time inside it",
                source=source,
            )
        i = int(np.argmin([abs((t - target).total_seconds()) for t in times]))
        note = "" if times[i] == target else f"nearest step {times[i].isoformat()} used"
        return TimeReduction(np.asarray(read_step(i)), (times[i], times[i]), 1, note)
    picked = [
        i
        for i, t in enumerate(times)
        if (selection.start is None or t >= selection.start)
        and (selection.end is None or t <= selection.end)
    ]
    if not picked:
        raise SchemaError(
            f"no time step falls in the window {selection.start} .. {selection.end}; the file "
            f"covers {span}",
            source=source,
        )
    acc: np.ndarray | None = None
    seen: np.ndarray | None = None
    for i in picked:
        step = read_step(i)
        if selection.mode == "max":
            # in the steps' own dtype (never widened: a widened float32 0.7 is below 0.7)
            acc = np.array(step, copy=True) if acc is None else np.fmax(acc, step)
        else:
            assert selection.threshold is not None
            thr: Any = step.dtype.type(selection.threshold) if step.dtype.kind == "f" else None
            above = step >= (thr if thr is not None else selection.threshold)
            valid = ~np.isnan(step) if step.dtype.kind == "f" else np.ones(step.shape, bool)
            acc = above.astype(np.float64) if acc is None else acc + above
            seen = valid if seen is None else (seen | valid)
    assert acc is not None
    if seen is not None:
        acc[~seen] = np.nan
    window = (times[picked[0]], times[picked[-1]])
    return TimeReduction(acc, window, len(picked), "")


def step_units(times: list[datetime]) -> str:
    """Name the unit of a duration counted in steps: ``days`` for daily steps, else steps."""
    if len(times) < 2:
        return "time steps"
    seconds = float(np.median(np.diff([t.timestamp() for t in times])))
    if abs(seconds - 86400) < 1:
        return "days"
    return f"time steps of {seconds / 3600:g} h"
