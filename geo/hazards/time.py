"""Reduce a layer with a time axis to one grid.

Four reductions (:class:`TimeSelection`): the maximum over a window, the value at a time, the
duration above a threshold and the sum over the last days (accumulated rain). What was applied
is described by :class:`TimeApplied`, which a run records in its manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from rahat.geo.errors import SchemaError

Mode = Literal["max", "at", "duration", "accumulate"]

#: The reductions, in the order they are documented.
MODES: tuple[str, ...] = ("max", "at", "duration", "accumulate")

#: Seconds in a day: the step an accumulation requires.
_DAY_SECONDS = 86_400.0


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

    Build it with :meth:`max_over`, :meth:`at_time`, :meth:`duration_above` or
    :meth:`accumulated`.

    Parameters
    ----------
    mode
        ``"max"``: maximum over the window; ``"at"``: the step nearest to ``at``;
        ``"duration"``: number of steps with value at least ``threshold`` (compared in the
        values' dtype) within the window; ``"accumulate"``: sum of the ``days`` daily steps
        ending at ``end`` (the last step when ``None``).
    start, end
        Window bounds (inclusive); ``None`` is open.
    at
        Time for ``"at"``.
    threshold
        Threshold for ``"duration"``.
    days
        Length of the ``"accumulate"`` window, in days (one step a day).
    """

    mode: Mode
    start: datetime | None = None
    end: datetime | None = None
    at: datetime | None = None
    threshold: float | None = None
    days: int | None = None

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

    @classmethod
    def accumulated(cls, days: int, end: Any = None) -> TimeSelection:
        """Sum of the ``days`` daily steps ending at ``end`` (default: the last step).

        The file's steps must be daily (one a day); the window is counted in those steps.
        """
        if int(days) < 1:
            raise ValueError(f"days must be at least 1, not {days}")
        return cls("accumulate", end=_opt(end), days=int(days))


def _opt(value: Any) -> datetime | None:
    return None if value is None else to_datetime(value)


@dataclass(frozen=True)
class TimeReduction:
    """Result of reducing a time axis."""

    values: np.ndarray
    valid_time: tuple[datetime, datetime]
    steps: int
    note: str


@dataclass(frozen=True)
class TimeApplied:
    """What a reduction of a time axis did, as a run records it.

    Parameters
    ----------
    mode
        The reduction (:data:`MODES`).
    start, end
        First and last step used (equal for ``"at"``).
    steps
        Number of steps used.
    step
        Unit of one step (``days``, ``time steps of 6 h``; :func:`step_units`).
    threshold
        Threshold of a ``"duration"``.
    days
        Window of an ``"accumulate"``, in days.
    asked
        ``False`` when no selection was given and the maximum over all steps was used.
    """

    mode: Mode
    start: datetime
    end: datetime
    steps: int
    step: str
    threshold: float | None = None
    days: int | None = None
    asked: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values (times in ISO 8601, options only when set)."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "steps": self.steps,
            "step": self.step,
            "asked": self.asked,
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.days is not None:
            out["days"] = self.days
        return out


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
        data); for durations it counts steps (float64, NaN where a cell never had data). An
        accumulation sums in float64 (a float32 rain widened, so 30 days of it lose nothing to
        rounding), a step without data counting 0; NaN where a cell had no data on any day
        of the window.

    Raises
    ------
    rahat.geo.errors.SchemaError
        If the window or time lies outside the file's time range, or an accumulation is
        longer than the file or its steps are not daily.
    """
    if selection.mode == "at":
        return _at(times, read_step, selection, source)
    if selection.mode == "accumulate":
        picked = _accumulation_window(times, selection, source)
    else:
        picked = _window(times, selection, source)
    acc: np.ndarray | None = None
    seen: np.ndarray | None = None
    for i in picked:
        step = read_step(i)
        if selection.mode == "max":
            # in the steps' own dtype (never widened: a widened float32 0.7 is below 0.7)
            acc = np.array(step, copy=True) if acc is None else np.fmax(acc, step)
            continue
        valid = ~np.isnan(step) if step.dtype.kind == "f" else np.ones(step.shape, bool)
        if selection.mode == "duration":
            assert selection.threshold is not None
            thr: Any = step.dtype.type(selection.threshold) if step.dtype.kind == "f" else None
            added = (step >= (thr if thr is not None else selection.threshold)).astype(np.float64)
        else:
            added = np.where(valid, step, 0).astype(np.float64)
        acc = added if acc is None else acc + added
        seen = valid if seen is None else (seen | valid)
    assert acc is not None
    if seen is not None:
        acc[~seen] = np.nan
    window = (times[picked[0]], times[picked[-1]])
    return TimeReduction(acc, window, len(picked), "")


def _span(times: list[datetime]) -> str:
    return f"{times[0].isoformat()} .. {times[-1].isoformat()}"


def _at(
    times: list[datetime],
    read_step: Callable[[int], np.ndarray],
    selection: TimeSelection,
    source: str,
) -> TimeReduction:
    """The step nearest to ``selection.at``, in its own dtype."""
    assert selection.at is not None
    target = selection.at
    if target < times[0] or target > times[-1]:
        raise SchemaError(
            f"time {target.isoformat()} is outside the file's time range {_span(times)}; "
            "choose a time inside it",
            source=source,
        )
    i = int(np.argmin([abs((t - target).total_seconds()) for t in times]))
    note = "" if times[i] == target else f"nearest step {times[i].isoformat()} used"
    return TimeReduction(np.asarray(read_step(i)), (times[i], times[i]), 1, note)


def _window(times: list[datetime], selection: TimeSelection, source: str) -> list[int]:
    """The steps within ``[start, end]`` of a maximum or a duration (at least one)."""
    picked = [
        i
        for i, t in enumerate(times)
        if (selection.start is None or t >= selection.start)
        and (selection.end is None or t <= selection.end)
    ]
    if not picked:
        raise SchemaError(
            f"no time step falls in the window {selection.start} .. {selection.end}; the file "
            f"covers {_span(times)}",
            source=source,
        )
    return picked


def _accumulation_window(times: list[datetime], selection: TimeSelection, source: str) -> list[int]:
    """The ``days`` daily steps ending at the last step at or before ``selection.end``."""
    assert selection.days is not None
    days = selection.days
    gaps = np.diff([t.timestamp() for t in times])
    if len(gaps) and not np.all(np.abs(gaps - _DAY_SECONDS) < 1):
        raise SchemaError(
            f"an accumulation over days needs one time step a day, but the file's steps are "
            f"{step_units(times)} (or uneven); use reduce max, at or duration instead",
            source=source,
        )
    if days > len(times):
        raise SchemaError(
            f"an accumulation over {days} days is longer than the file, which has "
            f"{len(times)} daily steps ({_span(times)}); ask for at most {len(times)} days",
            source=source,
        )
    end = selection.end
    if end is not None and (end < times[0] or end > times[-1]):
        raise SchemaError(
            f"end {end.isoformat()} is outside the file's time range {_span(times)}; choose "
            "an end inside it",
            source=source,
        )
    last = len(times) - 1 if end is None else max(i for i, t in enumerate(times) if t <= end)
    first = last - days + 1
    if first < 0:
        raise SchemaError(
            f"the {days}-day window ending {times[last].isoformat()} starts before the file's "
            f"first step {times[0].isoformat()}; choose a later end or fewer days",
            source=source,
        )
    return list(range(first, last + 1))


def applied(
    times: list[datetime], selection: TimeSelection, reduced: TimeReduction, *, asked: bool = True
) -> TimeApplied:
    """Describe what :func:`reduce_time` did with ``selection`` over ``times``."""
    return TimeApplied(
        mode=selection.mode,
        start=reduced.valid_time[0],
        end=reduced.valid_time[1],
        steps=reduced.steps,
        step=step_units(times),
        threshold=selection.threshold,
        days=selection.days,
        asked=asked,
    )


def step_units(times: list[datetime]) -> str:
    """Name the unit of a duration counted in steps: ``days`` for daily steps, else steps."""
    if len(times) < 2:
        return "time steps"
    seconds = float(np.median(np.diff([t.timestamp() for t in times])))
    if abs(seconds - _DAY_SECONDS) < 1:
        return "days"
    return f"time steps of {seconds / 3600:g} h"
