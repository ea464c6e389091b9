"""Evaluate a trigger at an as-of date: which stages fire where, and why.

:func:`evaluate_trigger` reads the trigger's sources (a forecast may be given at evaluation),
evaluates every condition of every stage per area (:mod:`rahat.engine.triggers.conditions`),
combines them (``any``/``all``) and returns a :class:`TriggerState`: per stage the areas that
fire and, per area and condition, the value, the threshold (and its fit), the share of members
above and the first day that passes. :func:`firing_scenario` restricts a stage's scenario to
the areas that fire, so running it gives an ordinary caseload for those areas only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rahat.engine.triggers.conditions import ConditionResult, evaluate_condition, lead_window
from rahat.engine.triggers.files import TriggerFile
from rahat.engine.triggers.model import STAGES, Source, Trigger, resolve
from rahat.engine.triggers.series import Series, read_area_series, read_grid
from rahat.geo.errors import TriggerError


@dataclass(frozen=True)
class AreaUnits:
    """The trigger's areas: codes, names and polygons (EPSG:4326)."""

    level: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    geometries: tuple[Any, ...]


@dataclass
class TriggerState:
    """What a trigger says at one as-of date.

    Attributes
    ----------
    trigger
        The trigger's name.
    as_of
        The as-of date (ISO).
    areas
        The areas evaluated.
    stages
        Stage name -> ``{"fires": [codes], "conditions": [...]}`` where each condition lists,
        per area, ``fires``, ``value``, ``threshold``, ``share`` (of members above),
        ``first_day`` and the return-period ``fit``.
    warnings
        What the readers reported.
    """

    trigger: str
    as_of: str
    areas: AreaUnits
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def firing(self, stage: str) -> list[str]:
        """Codes of the areas where ``stage`` fires (none if the trigger has no such stage)."""
        return list(self.stages.get(stage, {}).get("fires", []))

    def as_json(self) -> dict[str, Any]:
        """The state as one JSON-ready mapping (no geometry)."""
        return {
            "trigger": self.trigger,
            "as_of": self.as_of,
            "level": self.areas.level,
            "areas": len(self.areas.codes),
            "stages": self.stages,
            "warnings": self.warnings,
        }


def _polygons(path: Path, code_field: str) -> Any:
    """The areas of a vector file as a frame with ``code``, ``name`` and ``geometry``."""
    import geopandas as gpd

    if not path.exists():
        raise TriggerError(f"areas.path: no file {path.name}", source=path)
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several kinds for unreadable files
        raise TriggerError(f"areas.path: not a readable vector file ({exc})", source=path) from None
    if code_field not in frame.columns:
        raise TriggerError(
            f"areas.code_field '{code_field}' is not a field of the file (fields: "
            f"{', '.join(c for c in frame.columns if c != 'geometry')})",
            source=path,
        )
    if frame.crs is None:
        raise TriggerError("areas.path states no CRS", source=path)
    frame = frame.to_crs("EPSG:4326")
    codes = frame[code_field].astype(str)
    if codes.duplicated().any():
        raise TriggerError(
            f"areas.path: code '{codes[codes.duplicated()].iloc[0]}' names two areas", source=path
        )
    return frame.assign(code=codes, name=codes)


def parse_day(text: str, option: str) -> np.datetime64:
    """``text`` as a day, written ``YYYY-MM-DD`` (nothing else: no year alone, no NaT)."""
    import datetime as dt

    try:
        return np.datetime64(dt.datetime.strptime(text, "%Y-%m-%d").date(), "D")
    except (TypeError, ValueError):
        raise TriggerError(f"{option}: '{text}' is not a date (YYYY-MM-DD)") from None


def trigger_areas(trigger: Trigger, base_dir: Path | None = None) -> AreaUnits:
    """The units of ``trigger.areas`` with their polygons, by P-code at the level (or file).

    Raises
    ------
    rahat.geo.errors.TriggerError
        For a code that is no unit of the level (with the closest codes), or a level whose
        units have no P-codes with boundaries.
    """
    from rahat.engine.targeting.scenario_checks import suggest
    from rahat.geo import boundaries

    level = trigger.areas.level
    if trigger.areas.path is not None:
        table = _polygons(resolve(trigger.areas.path, base_dir), trigger.areas.code_field)
    elif level == "tehsil":
        names = {"tehsil_pcode": "code", "tehsil": "name"}
        table = boundaries.sindh_tehsils().rename(columns=names)
    elif level == "district":
        names = {"district_pcode": "code", "district": "name"}
        table = boundaries.districts().rename(columns=names)
    else:
        raise TriggerError("areas.level: provinces have no P-codes here; use district or tehsil")
    table = table[table["code"].notna()]
    by_code = {str(c): i for i, c in enumerate(table["code"])}
    codes = list(trigger.areas.codes) if trigger.areas.codes is not None else list(by_code)
    unknown = [c for c in codes if c not in by_code]
    if unknown:
        shown = "; ".join(f"'{c}'{suggest(c, list(by_code))}" for c in unknown[:10])
        raise TriggerError(f"areas.codes: {len(unknown)} unknown {level} P-code(s): {shown}")
    rows = [by_code[c] for c in codes]
    return AreaUnits(
        level,
        tuple(codes),
        tuple(str(table["name"].iloc[r]) for r in rows),
        tuple(table.geometry.iloc[r] for r in rows),
    )


def read_source(
    name: str, source: Source, path: Path, areas: AreaUnits, as_of: np.datetime64
) -> Series:
    """Read source ``name`` from ``path`` for ``areas`` (a CAP source covers ``as_of`` too)."""
    if not path.exists():
        raise TriggerError(f"sources.{name}: no file {path.name}", source=path)
    if source.kind == "area_series":
        return read_area_series(path, source.value).for_areas(areas.codes)
    if source.kind == "grid":
        return read_grid(path, source.variable, areas.codes, areas.geometries)
    from rahat.engine.triggers.alerts import read_alert_series

    return read_alert_series(path, areas.codes, areas.geometries, as_of)


def load_sources(
    file: TriggerFile,
    areas: AreaUnits,
    as_of: np.datetime64,
    given: Mapping[str, Path] | None = None,
) -> dict[str, Series]:
    """Read every source the stages use; ``given`` supplies or replaces paths by source name."""
    trigger = file.trigger
    conditions = [c for s in trigger.stages.values() for c in s.when.conditions]
    used = {c.source for c in conditions} | {c.above.history for c in conditions if c.above.history}
    out: dict[str, Series] = {}
    for name in sorted(used):
        source = trigger.sources[name]
        if given and name in given:
            path = given[name]
        elif source.path is not None:
            path = resolve(source.path, file.base_dir)
        else:
            raise TriggerError(
                f"sources.{name} has no path: give its file at evaluation (--forecast)"
            )
        out[name] = read_source(name, source, path, areas, as_of)
    return out


def _area_rows(result: ConditionResult, codes: tuple[str, ...]) -> list[dict[str, Any]]:
    def number(x: float) -> float | None:
        return None if np.isnan(x) else round(float(x), 4)

    return [
        {
            "code": code,
            "fires": bool(result.fires[i]),
            "value": number(result.value[i]),
            "threshold": number(result.threshold[i]),
            "share": round(float(result.share[i]), 4),
            "first_day": None if np.isnat(result.first_day[i]) else str(result.first_day[i]),
            "fit": result.fits[i],
        }
        for i, code in enumerate(codes)
    ]


def evaluate_trigger(
    file: TriggerFile,
    as_of: str,
    given: Mapping[str, Path] | None = None,
    areas: AreaUnits | None = None,
    sources: Mapping[str, Series] | None = None,
    cache: dict[tuple[Any, ...], Any] | None = None,
) -> TriggerState:
    """Evaluate every stage of ``file``'s trigger at ``as_of`` (``YYYY-MM-DD``).

    Parameters
    ----------
    file
        The loaded trigger.
    as_of
        The date the decision is taken on.
    given
        Source files by name, replacing or supplying the trigger's paths (a new forecast).
    areas, sources
        Already read areas and series (a backtest reads them once for every day).
    cache
        Return-period fits kept from one as-of date to the next (a backtest's).

    Raises
    ------
    rahat.geo.errors.TriggerError
        For an unreadable date, a missing source file, a lead window outside a source's days,
        or a source that states no time or CRS.
    """
    day = parse_day(as_of, "--as-of")
    trigger = file.trigger
    units = areas if areas is not None else trigger_areas(trigger, file.base_dir)
    series = dict(sources) if sources is not None else load_sources(file, units, day, given)
    state = TriggerState(trigger.name, str(day), units)
    for name, s in series.items():
        state.warnings.extend(w for w in s.warnings if w not in state.warnings)
        empty = [c for c, row in zip(s.areas, s.values, strict=True) if np.isnan(row).all()]
        if empty:
            state.warnings.append(
                f"source '{name}' has no value for {len(empty)} of {len(s.areas)} areas, which "
                f"cannot fire on it: {', '.join(empty[:10])}{' ...' if len(empty) > 10 else ''}"
            )
    for stage_name in STAGES:
        stage = trigger.stages.get(stage_name)  # type: ignore[call-overload]
        if stage is None:
            continue
        results = [
            evaluate_condition(
                c, series[c.source], series.get(c.above.history or "", None), day, cache
            )
            for c in stage.when.conditions
        ]
        for c in stage.when.conditions:
            note = _window_note(stage_name, c, series[c.source], day)
            if note and note not in state.warnings:
                state.warnings.append(note)
        stack = np.vstack([r.fires for r in results])
        fires = np.asarray(stack.all(axis=0) if stage.when.all is not None else stack.any(axis=0))
        state.stages[stage_name] = {
            "combine": "all" if stage.when.all is not None else "any",
            "fires": [c for c, f in zip(units.codes, fires, strict=True) if f],
            "scenario": stage.scenario,
            "conditions": [
                {"source": c.source, "areas": _area_rows(r, units.codes)}
                for c, r in zip(stage.when.conditions, results, strict=True)
            ],
        }
    return state


def _window_note(stage: str, condition: Any, series: Series, day: np.datetime64) -> str | None:
    """A warning when the series covers only part of a condition's lead window."""
    first, last = lead_window(day, condition)
    covered = int(np.count_nonzero((series.days >= first) & (series.days <= last)))
    wanted = condition.lead_days[1] - condition.lead_days[0] + 1
    if covered >= wanted:
        return None
    return (
        f"stages.{stage}: source '{condition.source}' covers {covered} of the {wanted} days "
        f"{first} .. {last} of the lead window; the rest cannot fire"
    )


def firing_scenario(file: TriggerFile, state: TriggerState, stage: str) -> Any:
    """The stage's scenario restricted to the areas where it fires (``None``: none fire).

    ``None`` too when the scenario notifies units of its own and none of them fires.

    The areas become the scenario's notified units at the trigger's level; a scenario that
    notifies units of that level already keeps only those that also fire.

    Raises
    ------
    rahat.geo.errors.TriggerError
        If the stage names no scenario, the scenario does not load, or it notifies units of
        another level.
    """
    from rahat.engine.targeting.scenario import load_scenario
    from rahat.geo.errors import InputError

    firing = state.firing(stage)
    spec = file.trigger.stages[stage]  # type: ignore[index]
    if not firing:
        return None
    if spec.scenario is None:
        raise TriggerError(f"stages.{stage} fires but names no scenario to run")
    path = resolve(spec.scenario, file.base_dir)
    try:
        scenario = load_scenario(path)
    except InputError as exc:
        raise TriggerError(f"stages.{stage}.scenario: {exc}") from None
    notified = scenario.eligibility.notified
    units = firing
    if notified is not None:
        if notified.level != state.areas.level:
            raise TriggerError(
                f"stages.{stage}.scenario notifies {notified.level} units; the trigger's areas "
                f"are {state.areas.level} units"
            )
        units = [c for c in firing if c in set(notified.units)]
        if not units:
            return None  # the scenario's own units and the firing ones do not meet
    return scenario.with_updates(
        {"eligibility.notified": {"level": state.areas.level, "units": units}}
    )
