"""Targeting scenarios: a strict schema, a loader with readable errors, and cross-field checks.

A scenario is written as YAML in ``scenarios/`` (or sent as JSON to the API). Every model
(:mod:`~rahat.engine.targeting.scenario_models`) forbids unknown fields and bounds every string,
list and number; :func:`load_scenario` turns all problems into **one**
:class:`~rahat.geo.errors.ScenarioError` that lists each problem with its field path and, for a
misspelt field, the closest valid name.

Limits (a hostile scenario is refused in milliseconds, CLI exit 2, API 422): a file or inline
scenario of at most 1 MB, UTF-8, nested at most 20 deep, no YAML aliases
(:mod:`~rahat.engine.targeting.scenario_files`); names and other short strings at most 200
characters, descriptions 2,000, paths 1,024; at most 10,000 admin units and 100 entries in
other lists; transfers at most Rs 1e9 per household, budgets Rs 1e15, counts 1e9
(:mod:`~rahat.engine.targeting.money`: no sum of money can overflow); no NaN or infinity.

Shape (every block but ``name``, ``eligibility`` and ``benefit`` is optional)::

    name: footprint_relief
    seed: 2022                      # key of the tie-break hash (ranking.py)
    season: kharif                  # season in effect for livelihood rules
    registry: demo                  # informational; the CLI's --registry wins
    hazards:
      - {name: depth, path: "demo:flood_depth_sindh_2022", kind: flood_depth,
         radius_m: 500, reducer: max}   # location uncertainty (rasters): max|mean within 500 m
      - {name: alerts, path: data/alerts.topojson, kind: generic, layer: watersheds,
         crs: "EPSG:4326", intensity_field: Severity}
    zones:                          # user polygon zone layers, usable in zone rules
      - {name: livelihood, path: data/livelihood_zones.gpkg, field: LZ_NAME}
    admin_units: recorded           # recorded (registry columns) | located (at the point)
    eligibility:
      pmt_cutoff: 32                # pmt_score <= 32
      area_relative: {level: tehsil, bottom_percent: 40}
      hazard: [{layer: depth, min_intensity: 0.3},
               {layer: drought, min_intensity: 2, where: {layer: climate, in: [BWh, BWk]}}]
      hazard_combine: any           # any | all
      zone: [{layer: livelihood, in: [Riverine]}]   # gate: located in one of these zones
      notified: {level: district, units: [Dadu, PK704]}
      livelihood:
        - {livelihoods: [crop_farming], layer: depth, min_intensity: 0.01, seasons: [kharif]}
      dwelling: [kacha, semi_pakka]
      exclude: {assisted_lists: [already_paid.csv], programmes: [bisp_kafaalat]}
    priority:
      weights: {severity: 0.4, poverty: 0.3, children_under5: 0.1, kacha: 0.2}
    benefit: {kind: fixed, amount: 25000}
    budget: {total: 2_600_000_000}  # rupees; and/or max_households
    # or: budget: {same_as: bisp_2022_as_done}  # what that scenario spends, same registry
    # budget: {total: 2_600_000_000, reserve_for_unregistered: true}  # or a share, 0.5:
    #   hold back the transfer for the estimated unregistered bottom-40% households of the
    #   footprint (needs `rahat run --gap`; rahat.engine.targeting.gap_join)
    quotas: {level: district, mode: proportional}
    stale_records:                  # records not updated for > 5 years (to the registry's
      older_than_years: 5           # latest last_updated): flag | down_weight | exclude
      action: down_weight
      weight: 0.5                   # priority x 0.5 (down_weight only)
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rahat.engine.targeting.scenario_checks import cross_checks, raise_problems, suggest
from rahat.engine.targeting.scenario_files import (
    read_document,
    resolve_scenario_path,
)
from rahat.engine.targeting.scenario_models import (
    BUILTIN_ZONE_LAYERS,
    DEFAULT_LOSS_LIVELIHOODS,
    MAX_RADIUS_M,
    AdminLevel,
    AreaRelativeRule,
    Benefit,
    Budget,
    Eligibility,
    Exclusions,
    HazardLayerSpec,
    HazardRule,
    LivelihoodRule,
    NotifiedUnits,
    Priority,
    PriorityWeights,
    Quotas,
    Scenario,
    Season,
    SizeBracket,
    ZoneLayerSpec,
    ZoneRule,
)
from rahat.geo.errors import ScenarioError

__all__ = [
    "BUILTIN_ZONE_LAYERS",
    "DEFAULT_LOSS_LIVELIHOODS",
    "MAX_RADIUS_M",
    "AdminLevel",
    "AreaRelativeRule",
    "Benefit",
    "Budget",
    "Eligibility",
    "Exclusions",
    "HazardLayerSpec",
    "HazardRule",
    "LivelihoodRule",
    "NotifiedUnits",
    "Priority",
    "PriorityWeights",
    "Quotas",
    "Scenario",
    "ScenarioError",
    "Season",
    "SizeBracket",
    "ZoneLayerSpec",
    "ZoneRule",
    "known_admin_units",
    "load_scenario",
    "resolve_scenario_path",
    "shorten",
    "validate_against",
]

#: Longest text of a user's value echoed in an error message or drawn in a title.
SHOWN_LENGTH = 80


def shorten(text: str, limit: int = SHOWN_LENGTH) -> str:
    """Return ``text`` cut to ``limit`` characters with an ellipsis (titles, messages)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_short = shorten


# --------------------------------------------------------------------------- error messages


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Return the pydantic models an annotation refers to (through Optional, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            out.extend(_models_in(arg))
    return out


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """Return the valid field names of the model reached by following ``loc`` from ``root``."""
    model: type[BaseModel] = root
    for part in loc:
        if not isinstance(part, str):
            continue  # list index or dict key
        field = model.model_fields.get(part)
        if field is None:
            by_alias = {f.alias: f for f in model.model_fields.values() if f.alias}
            field = by_alias.get(part)
        if field is None:
            continue  # dict key
        models = _models_in(field.annotation)
        if not models:
            return []
        model = models[0]
    return [f.alias or name for name, f in model.model_fields.items()]


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_short(str(part))}" if out else _short(str(part))
    return out or "(scenario)"


def describe_error(error: Mapping[str, Any], root: type[BaseModel]) -> str:
    """One line for a pydantic validation error of a ``root`` model (a scenario, a trigger).

    The field's path, what is wrong and the value given; for an unknown field, the closest
    valid name and every valid name at that place.
    """
    loc = tuple(error["loc"])
    where = _path(loc)
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1], root)
        close = difflib.get_close_matches(_short(str(loc[-1])), valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown field{hint} (valid here: {', '.join(valid)})"
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    value = error.get("input")
    shown = f" (got {_short(repr(value))})" if not isinstance(value, dict | list) else ""
    return f"{where}: {error['msg']}{shown}"


# --------------------------------------------------------------------------- loading


def load_scenario(source: str | Path | Mapping[str, Any]) -> Scenario:
    """Load and validate a scenario from a YAML/JSON file or a mapping.

    Parameters
    ----------
    source
        Path of a ``.yaml``/``.yml``/``.json`` file, or an already parsed mapping.

    Returns
    -------
    Scenario
        The validated scenario; when read from a file, relative paths resolve against its folder.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        Listing every problem found (field path, what is wrong, closest valid field name); or
        a file or mapping beyond the limits (:mod:`~rahat.engine.targeting.scenario_files`).
    rahat.geo.errors.UnreadableFileError
        If the file cannot be read or parsed.

    Examples
    --------
    >>> from rahat.geo.paths import repo_root
    >>> scenario = load_scenario(repo_root() / "scenarios" / "flood_2022_footprint.yaml")
    >>> scenario.name, [h.name for h in scenario.hazards][:1]
    ('flood_2022_footprint', ['depth'])
    """
    data, where, base = read_document(source)
    if not isinstance(data, Mapping):
        raise ScenarioError("a scenario must be a mapping of fields", source=where)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise_problems([describe_error(err, Scenario) for err in exc.errors()], where)
        raise AssertionError("unreachable") from None
    raise_problems(cross_checks(scenario), where)
    scenario._base_dir = base
    return scenario


# --------------------------------------------------------------------------- admin units


def known_admin_units() -> dict[str, set[str]]:
    """Return the names and P-codes of every real admin unit, per level.

    Read from :mod:`rahat.geo.boundaries` (:func:`~rahat.geo.boundaries.admin_unit_names`,
    attributes only): provinces, the 156 districts (with Sindh P-codes), the Sindh COD-AB
    tehsils with P-codes and the national tehsil gazetteer.
    """
    from rahat.geo.boundaries import admin_unit_names

    return {level: set(names) for level, names in admin_unit_names().items()}


def validate_against(scenario: Scenario, known_units: Mapping[str, Collection[str]]) -> None:
    """Check that every admin unit the scenario names exists.

    Parameters
    ----------
    scenario
        A loaded scenario.
    known_units
        Level (``province``, ``district``, ``tehsil``) -> names and P-codes, for example
        :func:`known_admin_units` or the units present in a registry. Matching ignores case.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        Listing each unknown unit with the closest known name.
    """
    problems: list[str] = []

    def check(where: str, level: str, names: Iterable[str]) -> None:
        known = list(known_units.get(level, ()))
        folded = {k.casefold().strip() for k in known}
        for i, name in enumerate(names):
            if name.casefold().strip() not in folded:
                kind = "P-code" if name[:2].upper() == "PK" and name[2:].isdigit() else level
                problems.append(
                    f"{where}[{i}]: unknown {kind} '{name}'{suggest(name, sorted(known))}"
                )

    notified = scenario.eligibility.notified
    if notified is not None:
        check("eligibility.notified.units", notified.level, notified.units)
    quotas = scenario.quotas
    if quotas is not None and quotas.shares:
        check("quotas.shares", quotas.level, list(quotas.shares))
    raise_problems(problems, None)
