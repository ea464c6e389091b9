"""Replay a trigger over a season, day by day, and score it against what was observed.

:func:`replay` evaluates every stage on every day from ``start`` to ``end`` as if that day were
the as-of date (each day sees only the series up to its lead window, and return periods are
fitted only on the days before it: :mod:`rahat.engine.triggers.conditions`). Areas for which a
source has no value on any day are left out and named, never scored as misses. The days are
evaluated by :func:`replay_days` in one run, or in several joined in order by :func:`join_runs`
(on a Dask cluster: :mod:`rahat.engine.distributed.backtest`).

:func:`season_table` scores each stage **per area and season** against an observed outcome
(for 2022: the Sentinel-1 flooded share of each tehsil in August, :func:`read_observed`):

* an area *floods* when its observed share is at least ``flooded_share``; the flood is taken to
  happen in the event period ``[event_from, event_to]`` (the observation window);
* *hit*: it floods and the stage fired on a day up to ``event_to``; *miss*: it floods and the
  stage did not; *false alarm*: it does not flood and the stage fired on any day replayed;
  *correct negative*: neither;
* POD, FAR and CSI over areas, with Wilson intervals (:mod:`rahat.engine.triggers.verification`);
  *activation frequency*: the share of area-days the stage fired;
* *lead time* of a hit: days from its first firing to ``event_from`` (negative when it first
  fired inside the event period).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.triggers.evaluate import (
    AreaUnits,
    evaluate_trigger,
    load_sources,
    parse_day,
    trigger_areas,
)
from rahat.engine.triggers.files import TriggerFile
from rahat.engine.triggers.series import Series
from rahat.engine.triggers.verification import contingency, scores, wilson_interval
from rahat.geo.errors import TriggerError

#: Most days a backtest replays.
MAX_DAYS = 3_660


@dataclass
class Replay:
    """A trigger evaluated on every day of a season.

    Attributes
    ----------
    trigger
        The trigger's name.
    areas
        The areas scored (those with data).
    days
        The as-of dates (``datetime64[D]``).
    fired
        Stage -> whether it fired, ``bool [area, day]``.
    left_out
        Areas without data in a source, by code.
    warnings
        What the readers reported.
    """

    trigger: str
    areas: AreaUnits
    days: np.ndarray
    fired: dict[str, np.ndarray]
    left_out: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _with_data(units: AreaUnits, sources: Mapping[str, Series]) -> tuple[AreaUnits, list[str]]:
    """The areas that have a value on some day in every source, and the codes left out."""
    keep = np.ones(len(units.codes), dtype=bool)
    for series in sources.values():
        keep &= ~np.isnan(series.values).all(axis=(1, 2))
    kept = np.flatnonzero(keep)
    left = [units.codes[i] for i in np.flatnonzero(~keep)]
    picked = AreaUnits(
        units.level,
        tuple(units.codes[i] for i in kept),
        tuple(units.names[i] for i in kept),
        tuple(units.geometries[i] for i in kept),
    )
    return picked, left


@dataclass(frozen=True)
class Season:
    """What a replay evaluates, read once: the areas with data, the as-of days, the series.

    Attributes
    ----------
    file
        The trigger.
    areas
        The areas that have data in every source.
    days
        The as-of dates (``datetime64[D]``).
    sources
        The series of every source the stages use, for ``areas`` only.
    left_out
        Areas without data in a source, by code.
    """

    file: TriggerFile
    areas: AreaUnits
    days: np.ndarray
    sources: dict[str, Series]
    left_out: list[str]


@dataclass(frozen=True)
class DayRun:
    """The stages evaluated on a run of consecutive as-of days (:func:`replay_days`).

    Attributes
    ----------
    fired
        Stage -> whether it fired, ``bool [area, day of the run]``.
    warnings
        What the evaluations reported, each once, in the order first met.
    """

    fired: dict[str, np.ndarray]
    warnings: list[str]


def read_season(
    file: TriggerFile,
    start: str | None = None,
    end: str | None = None,
    given: Mapping[str, Path] | None = None,
) -> Season:
    """The areas, days and series :func:`replay` evaluates (arguments as for it).

    Raises
    ------
    rahat.geo.errors.TriggerError
        As :func:`replay`, except for a day whose lead window leaves a source's days (found
        when the day is evaluated).
    """
    units = trigger_areas(file.trigger, file.base_dir)
    first = parse_day(start, "--from") if start else None
    last = parse_day(end, "--to") if end else None
    sources = load_sources(file, units, first or np.datetime64("1970-01-01"), given)
    if first is None:
        first = min(s.days[0] for s in sources.values())
    if last is None:
        ahead = max(c.lead_days[1] for s in file.trigger.stages.values() for c in s.when.conditions)
        last = min(s.days[-1] for s in sources.values()) - np.timedelta64(ahead, "D")
    if last < first:
        raise TriggerError(f"the replay would end ({last}) before it starts ({first})")
    days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
    if len(days) > MAX_DAYS:
        raise TriggerError(f"a backtest replays at most {MAX_DAYS:,} days")
    kept, left = _with_data(units, sources)
    if not kept.codes:
        raise TriggerError("no area has data in every source")
    sources = {name: s.for_areas(kept.codes) for name, s in sources.items()}
    return Season(file, kept, days, sources, left)


def replay_days(
    file: TriggerFile, areas: AreaUnits, sources: Mapping[str, Series], days: np.ndarray
) -> DayRun:
    """Evaluate every stage on each of ``days`` as if it were the as-of date.

    Each day sees only the series up to its lead window (and fits return periods on the days
    before it), so a season can be cut into runs of days evaluated apart and joined in order
    (:func:`join_runs`): the result is the one of a single run.

    Raises
    ------
    rahat.geo.errors.TriggerError
        For the first day whose lead window leaves a source's days.
    """
    stages: list[str] = list(file.trigger.stages)
    fired = {stage: np.zeros((len(areas.codes), len(days)), dtype=bool) for stage in stages}
    cache: dict[tuple[Any, ...], Any] = {}
    warnings: list[str] = []
    for j, day in enumerate(days):
        state = evaluate_trigger(file, str(day), areas=areas, sources=sources, cache=cache)
        for stage in stages:
            codes = set(state.firing(stage))
            fired[stage][:, j] = [code in codes for code in areas.codes]
        warnings.extend(w for w in state.warnings if w not in warnings)
    return DayRun(fired, warnings)


def join_runs(found: Season, runs: Sequence[DayRun]) -> Replay:
    """The :class:`Replay` of ``found`` from its runs of days, given in day order.

    Raises
    ------
    ValueError
        If the runs do not cover the season's days (a bug in cutting them).
    """
    covered = sum(next(iter(run.fired.values())).shape[1] for run in runs)
    if covered != len(found.days):
        raise ValueError(f"the runs cover {covered} days of the {len(found.days)} replayed")
    stages: list[str] = list(found.file.trigger.stages)
    fired = {stage: np.concatenate([run.fired[stage] for run in runs], axis=1) for stage in stages}
    warnings: list[str] = []
    for run in runs:
        warnings.extend(w for w in run.warnings if w not in warnings)
    return Replay(found.file.trigger.name, found.areas, found.days, fired, found.left_out, warnings)


def replay(
    file: TriggerFile,
    start: str | None = None,
    end: str | None = None,
    given: Mapping[str, Path] | None = None,
) -> Replay:
    """Evaluate every stage of the trigger on each day from ``start`` to ``end`` (inclusive).

    By default the replay runs from the sources' first day to the last day whose lead windows
    the sources still cover. :func:`rahat.engine.distributed.backtest.distributed_replay`
    computes the same on a Dask cluster.

    Raises
    ------
    rahat.geo.errors.TriggerError
        For unreadable dates, ``end`` before ``start``, too many days, no area with data, or a
        day whose lead window leaves a source's days.
    """
    found = read_season(file, start, end, given)
    return join_runs(found, [replay_days(file, found.areas, found.sources, found.days)])


def read_observed(path: Path, column: str = "flood_share") -> pd.Series:
    """Observed outcome per area: a CSV with ``pcode`` and ``column`` (a share in [0, 1]).

    Raises
    ------
    rahat.geo.errors.TriggerError
        For a missing file or column, a share outside [0, 1], or an area given twice.
    """
    try:
        frame = pd.read_csv(path, dtype={"pcode": str})
    except (OSError, ValueError) as exc:
        raise TriggerError(f"cannot read the observed outcome ({exc})", source=path) from None
    missing = [c for c in ("pcode", column) if c not in frame.columns]
    if missing:
        raise TriggerError(f"missing column(s) {', '.join(missing)}", source=path)
    share = pd.to_numeric(frame[column], errors="coerce")
    bad = share.isna() | (share < 0) | (share > 1)
    if bad.any():
        raise TriggerError(
            f"{int(bad.sum())} rows have no share in [0, 1] (first: row "
            f"{int(np.flatnonzero(bad.to_numpy())[0]) + 2})",
            source=path,
        )
    if frame["pcode"].duplicated().any():
        raise TriggerError("an area is given twice", source=path)
    return pd.Series(share.to_numpy(), index=frame["pcode"].astype(str))


def season_table(
    result: Replay,
    stage: str,
    observed: pd.Series,
    *,
    flooded_share: float,
    event_from: str,
    event_to: str,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score ``stage`` per area and season (see the module docstring).

    Returns
    -------
    (pandas.DataFrame, dict)
        One row per area (code, name, observed share, flooded, fired days, first firing,
        outcome, lead days), and the overall figures: the four counts, ``pod``, ``far``,
        ``csi`` and ``activation_frequency`` each as ``[value, low, high]``, and the mean and
        median lead time of the hits. Areas without an observed outcome are left out and
        counted (``no_observation``).
    """
    begin, finish = np.datetime64(event_from, "D"), np.datetime64(event_to, "D")
    fired = result.fired[stage]
    known = np.array([code in observed.index for code in result.areas.codes])
    share = np.array([observed.get(code, np.nan) for code in result.areas.codes], dtype=float)
    flooded = share >= flooded_share
    until = result.days <= finish
    fired_by_event = np.asarray(fired[:, until].any(axis=1), dtype=bool)
    # a flood is caught by a firing up to its end; a dry area's firing any day is a false alarm
    caught = np.where(flooded, fired_by_event, fired.any(axis=1))
    first = np.where(fired.any(axis=1), np.argmax(fired, axis=1), -1)
    first_day = np.where(first >= 0, result.days[np.maximum(first, 0)], np.datetime64("NaT"))
    lead = np.where(
        flooded & fired_by_event,
        (begin - first_day).astype("timedelta64[D]").astype(float),
        np.nan,
    )
    outcome = np.select(
        [flooded & caught, flooded, caught],
        ["hit", "miss", "false_alarm"],
        "correct_negative",
    )
    rows = pd.DataFrame(
        {
            "code": result.areas.codes,
            "name": result.areas.names,
            "observed_share": share,
            "flooded": flooded,
            "fired_days": fired.sum(axis=1),
            "first_fired": [None if np.isnat(d) else str(d) for d in first_day],
            "outcome": outcome,
            "lead_days": lead,
        }
    )[known]
    keep = known  # areas with an observed outcome
    table = contingency(caught[keep, None], flooded[keep, None]).overall()
    found = scores(table, confidence)
    leads = lead[keep & ~np.isnan(lead)]

    def triple(name: str) -> list[float | None]:
        s = found[name]
        return [
            None if np.isnan(x) else round(float(x), 4) for x in (s.value[0], s.low[0], s.high[0])
        ]

    area_days = fired[keep]
    frequency = wilson_interval(int(area_days.sum()), int(area_days.size), confidence)
    overall = {
        "stage": stage,
        "areas": int(keep.sum()),
        "no_observation": int((~known).sum()),
        "flooded": int(flooded[keep].sum()),
        "hits": int(table.hits[0]),
        "misses": int(table.misses[0]),
        "false_alarms": int(table.false_alarms[0]),
        "correct_negatives": int(table.correct_negatives[0]),
        "pod": triple("pod"),
        "far": triple("far"),
        "csi": triple("csi"),
        "activation_frequency": [
            round(float(np.ravel(x)[0]), 4)
            for x in (frequency.value, frequency.low, frequency.high)
        ],
        "lead_days_mean": round(float(leads.mean()), 2) if len(leads) else None,
        "lead_days_median": float(np.median(leads)) if len(leads) else None,
    }
    return rows.reset_index(drop=True), overall


def plot_timeline(result: Replay, observed: pd.Series, flooded_share: float, path: Path) -> Path:
    """Draw, per stage, the days each area fired (rows: areas, flooded ones marked) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rahat.geo.files import atomic_write

    stages = list(result.fired)
    share = np.array([observed.get(c, np.nan) for c in result.areas.codes], dtype=float)
    order = np.argsort(-np.nan_to_num(share, nan=-1.0), kind="stable")
    fig, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 8), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        ax.imshow(result.fired[stage][order], aspect="auto", cmap="Reds", interpolation="none")
        ax.set_title(f"{result.trigger}: {stage} fired (red)")
        ticks = np.arange(0, len(result.days), 14)
        ax.set_xticks(ticks, [str(result.days[t])[5:] for t in ticks], rotation=45)
        labels = [
            f"{result.areas.names[i]}{' *' if share[i] >= flooded_share else ''}" for i in order
        ]
        ax.set_yticks(np.arange(len(order)), labels, fontsize=5)
        ax.set_xlabel(
            "as-of date (2022)" if str(result.days[0]).startswith("2022") else "as-of date"
        )
    fig.text(0.01, 0.01, f"* observed flooded share >= {flooded_share:.0%}", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return path
