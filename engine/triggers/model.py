"""The trigger-file schema: strict pydantic models, versioned, bounded like scenarios.

A trigger file says *when* to act, per area, in stages (``readiness``, ``activation``), each
with a condition on one or more sources and the scenario to run for the areas that fire::

    name: sindh_rain_2022
    version: 1
    areas: {level: tehsil, codes: [PK6xx, ...]}    # units by P-code; omit codes: every unit
    sources:                                         # the series the conditions read
      rain:                                          # an area series: pcode,date,value[,member]
        kind: area_series
        path: ../data/triggers/sindh_tehsil_rain_2022.csv
        value: rain_mm
      forecast:                                      # a forecast grid: time[, member], lat, lon
        kind: grid
        variable: rain                               # path: given at evaluation (--forecast)
    stages:
      readiness:
        when:
          any:                                       # any / all of the conditions
            - source: forecast
              reduce: {accumulate_days: 3}           # or {} for the daily value
              above: {return_period: 5, distribution: gumbel, history: rain, block_days: 10}
              probability: 0.5                       # share of ensemble members above
              lead_days: [7, 15]                     # days after the as-of date
        scenario: ../scenarios/flood_2022_footprint.yaml
      activation:
        when: {all: [{source: rain, reduce: {accumulate_days: 3}, above: {value: 150},
                      consecutive_days: 2}]}
        scenario: ../scenarios/flood_2022_footprint.yaml

:mod:`rahat.engine.triggers.files` loads trigger files; :mod:`rahat.engine.triggers.evaluate`
evaluates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rahat.engine.targeting.scenario_models import (
    MAX_DESCRIPTION_LENGTH,
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_UNITS,
    AdminLevel,
)

#: Trigger-file versions this code reads.
VERSIONS = (1,)

#: Stages a trigger may have, in the order they are evaluated.
STAGES = ("readiness", "activation")

#: Longest accumulation, consecutive-day run or lead time, in days.
MAX_DAYS = 366

#: Largest return period, in blocks.
MAX_RETURN_PERIOD = 10_000.0

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[A-Za-z0-9_.-]+$")]
PathText = Annotated[str, Field(min_length=1, max_length=MAX_PATH_LENGTH)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Areas(_Strict):
    """The areas a trigger applies to: admin units of one level by P-code, or polygons.

    With ``path``, the areas are the polygons of that vector file (any format Rahat reads),
    each named by its ``code_field``; ``codes`` then picks some of them. Without it, they are
    Rahat's own boundaries of ``level`` (tehsils of Sindh, districts) by P-code.
    """

    level: AdminLevel = "tehsil"
    codes: list[Name] | None = Field(default=None, min_length=1, max_length=MAX_UNITS)
    path: PathText | None = None
    code_field: Name = "pcode"


class Source(_Strict):
    """A series the conditions read.

    ``area_series``: a CSV with one row per area, day (and ensemble member): columns ``pcode``,
    ``date``, the ``value`` column and optionally ``member``. ``grid``: a NetCDF with a time axis,
    optionally an ensemble-member axis, and a CRS; the values are averaged over each area's
    cells. ``cap``: CAP 1.2 alert files; an area's value on a day is the highest severity class
    (1 Minor .. 4 Extreme) of the alerts in force over it. ``path`` may be left out for a source
    given at evaluation (``--forecast``).
    """

    kind: Literal["area_series", "grid", "cap"]
    path: PathText | None = None
    value: Name = "value"
    variable: Name | None = None


class Reduce(_Strict):
    """How the daily series becomes the value a threshold compares: as it is, or summed."""

    accumulate_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)


class Threshold(_Strict):
    """An absolute value, or a return period fitted per area on a history source.

    A return period ``T`` is in blocks of ``block_days`` days: the maxima of the (reduced)
    history per block are fitted with ``distribution`` (scipy's ``gumbel_r`` or
    ``genextreme``), and the threshold is the fit's ``1 - 1/T`` quantile.
    """

    value: float | None = Field(default=None, ge=-1e12, le=1e12)
    return_period: float | None = Field(default=None, gt=1.0, le=MAX_RETURN_PERIOD)
    distribution: Literal["gumbel", "gev"] = "gumbel"
    history: Name | None = None
    block_days: int = Field(default=365, ge=1, le=MAX_DAYS)

    @model_validator(mode="after")
    def _one_kind(self) -> Threshold:
        if (self.value is None) == (self.return_period is None):
            raise ValueError("give either value or return_period")
        if self.return_period is not None and self.history is None:
            raise ValueError("a return_period needs a history source to fit")
        return self


class Condition(_Strict):
    """One test on one source: reduce, compare, across members, for N days, within the lead."""

    source: Name
    reduce: Reduce = Reduce()
    above: Threshold
    probability: float | None = Field(default=None, gt=0.0, le=1.0)
    consecutive_days: int = Field(default=1, ge=1, le=MAX_DAYS)
    lead_days: tuple[int, int] = (0, 0)

    @model_validator(mode="after")
    def _lead(self) -> Condition:
        low, high = self.lead_days
        if not 0 <= low <= high <= MAX_DAYS:
            raise ValueError(f"lead_days must be [first, last], 0 <= first <= last <= {MAX_DAYS}")
        return self


class When(_Strict):
    """Conditions combined: ``any`` fires when one does, ``all`` when every one does."""

    any: list[Condition] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    all: list[Condition] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _one_list(self) -> When:
        if (self.any is None) == (self.all is None):
            raise ValueError("give either any or all")
        return self

    @property
    def conditions(self) -> list[Condition]:
        """The conditions, whichever way combined."""
        return list(self.any or self.all or [])


class Stage(_Strict):
    """A stage: when it fires, and the scenario to run for the areas that fire (optional)."""

    when: When
    scenario: PathText | None = None


class Trigger(_Strict):
    """A complete trigger file."""

    name: Name
    version: int
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)
    areas: Areas = Areas()
    sources: dict[Name, Source] = Field(min_length=1, max_length=MAX_ITEMS)
    stages: dict[Literal["readiness", "activation"], Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Trigger:
        if self.version not in VERSIONS:
            raise ValueError(f"version {self.version} is not one this Rahat reads ({VERSIONS})")
        problems = []
        for stage_name, stage in self.stages.items():
            for i, condition in enumerate(stage.when.conditions):
                names = (("source", condition.source), ("history", condition.above.history))
                for role, name in names:
                    if name is not None and name not in self.sources:
                        problems.append(
                            f"stages.{stage_name} condition {i + 1}: {role} '{name}' is not one of "
                            f"the sources ({', '.join(sorted(self.sources))})"
                        )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def resolve(path: str, base: Path | None) -> Path:
    """``path`` as written in a trigger file, relative to the file's folder."""
    given = Path(path)
    return given if given.is_absolute() or base is None else base / given


__all__ = [
    "MAX_NAME_LENGTH",
    "STAGES",
    "Areas",
    "Condition",
    "Reduce",
    "Source",
    "Stage",
    "Threshold",
    "Trigger",
    "When",
    "resolve",
]
