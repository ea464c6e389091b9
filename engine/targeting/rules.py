"""Eligibility rules: each rule kind gives a boolean mask over all households and a label.

Threshold comparison (the one documented way)
---------------------------------------------
A threshold is cast to the intensity array's own dtype before comparing:
``intensity >= np.asarray(threshold, dtype=intensity.dtype)``. A float32 depth stored as
``float32(0.7)`` therefore passes ``min_intensity: 0.7`` (widened to float64 it is
0.69999998... and would fail, while ``float32(0.3)`` is 0.30000001... and would pass: the
float64 result depends on the threshold's binary expansion). A value equal to the threshold as
written always passes; a caseload never depends on float64 round-off of a float32 raster. Integer
intensities use the equivalent integer bound (``>= 5.5`` becomes ``>= 6``). NaN (no data, or
outside the layer) never passes. Class rules compare the int8 class code (``-1`` = no data never
passes).

How the rules combine
---------------------
``eligible = affected AND pmt AND area_relative AND notified AND zone AND dwelling AND not
excluded``, where ``affected = (hazard rules combined by hazard_combine) OR (any active
livelihood rule)``.

Zone rules (``zone: [{layer: climate, in: [BWh, BWk]}]``) pass the households whose point lies
in one of the named zones of the zone layer (``climate``: Köppen codes; ``province``,
``district``, ``tehsil``: the located unit; or a scenario ``zones`` layer); names match
ignoring case, and a household in no zone fails. Each zone rule is a gate. A hazard rule with
``where: {layer: ..., in: [...]}`` passes only the households in those zones that meet its
condition ("arid zones: drought index"), so with ``hazard_combine: any`` each zone can have
its own hazard condition. A zone name that no zone of the layer has is reported in
:attr:`RuleSet.warnings`.

Admin units: with the scenario's ``admin_units: located`` the notified-units and
area-relative rules (and quotas, evaluate.py) use the unit at the household's point instead of
the unit the registry records (units.py).
With neither hazard nor livelihood rules, ``affected`` is true everywhere (a notified-units
scenario such as BISP 2022). A livelihood rule whose ``seasons`` exclude the scenario's season
is inactive: it fails for everyone and its label says so (``@kharif`` / ``off``).

Area-relative rule ("bottom X % per tehsil"): within each unit, registered households are
ordered by PMT score ascending, ties by the keyed hash (ranking.py); the first
``ceil(n_unit * X / 100)`` pass.

A household with no unit at the rule's level (the registry records no tehsil for it, as for
every household of some districts) is ranked one level up instead: among all registered
households of its district (for a tehsil rule) or of its province (for a district rule, and for
a tehsil rule when the district is unknown too). Only households with no province never pass.
When this fallback is used the rule's label says so (``bottom40%/tehsil(else district)`` in the
reasons) and :attr:`RuleSet.warnings` names the units whose households were ranked one level up.

A livelihood rule that is active but admits no household the hazard rules do not already admit
changes nothing; :attr:`RuleSet.warnings` says so (the scenario loader refuses the cases that
can be decided from the scenario alone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure, HazardExposure
from rahat.engine.kernels.grouping import group_positions
from rahat.engine.targeting.memo import memoised
from rahat.engine.targeting.ranking import keyed_hash
from rahat.engine.targeting.scenario import HazardRule, LivelihoodRule, Scenario, ZoneRule
from rahat.engine.targeting.stale import registry_stale, stale_label
from rahat.engine.targeting.units import admin_units
from rahat.geo.errors import ScenarioError, SchemaError, UnreadableFileError
from rahat.geo.registry.schema import PROGRAMME_SEPARATOR

_L = TypeVar("_L")


@dataclass(frozen=True)
class RuleResult:
    """One rule evaluated on every household.

    Attributes
    ----------
    key
        Rule kind: ``pmt``, ``area_relative``, ``hazard``, ``livelihood``, ``notified``,
        ``zone``, ``dwelling``, ``assisted``, ``programmes``, ``stale``.
    label
        Compact label used in the reasons string (``pmt<=32``, ``depth>=0.3``...).
    passed
        Bool per household.
    affects
        ``True`` for hazard and livelihood rules (they combine into ``affected``), ``False`` for
        gates that every eligible household must pass.
    index
        Position of the rule in its scenario list (hazard, livelihood and zone rules), else -1.
    """

    key: str
    label: str
    passed: np.ndarray
    affects: bool = False
    index: int = -1


@dataclass(frozen=True)
class RuleSet:
    """All rules of a scenario evaluated on an exposure.

    ``warnings`` are plain-language notes for the run's warnings: the admin-level fallback of
    an area-relative rule, a livelihood rule that changes nothing.
    """

    rules: tuple[RuleResult, ...]
    affected: np.ndarray
    eligible: np.ndarray
    warnings: tuple[str, ...] = ()

    def gates(self) -> list[np.ndarray]:
        """Return the masks that all must pass: ``affected`` plus each gate rule."""
        return [self.affected, *(r.passed for r in self.rules if not r.affects)]


def at_least(values: np.ndarray, threshold: float) -> np.ndarray:
    """Return ``values >= threshold``, compared in ``values``' own dtype (module docstring)."""
    if values.dtype.kind == "f":
        return values >= np.asarray(threshold, dtype=values.dtype)
    return values >= np.int64(math.ceil(threshold))


def at_most(values: np.ndarray, threshold: float) -> np.ndarray:
    """Return ``values <= threshold``, compared in ``values``' own dtype (module docstring)."""
    if values.dtype.kind == "f":
        return values <= np.asarray(threshold, dtype=values.dtype)
    return values <= np.int64(math.floor(threshold))


def _in_exposure(layers: Mapping[str, _L], name: str, kind: str, listed: str) -> _L:
    """Return layer ``name`` of ``layers``; refuse one the overlay did not produce.

    Parameters
    ----------
    layers
        The exposure's hazard or zone layers by name.
    name
        The layer a rule names.
    kind
        ``"hazard"`` or ``"zone"``, for the message.
    listed
        How the message heads the list of known layers.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If ``layers`` has no layer ``name``.
    """
    try:
        return layers[name]
    except KeyError:
        known = ", ".join(layers) or "none"
        raise ScenarioError(
            f"{kind} layer '{name}' is not in the exposure ({listed}: {known}); re-run the "
            f"overlay with the scenario's {kind}s"
        ) from None


def _layer(exposure: Exposure, name: str) -> HazardExposure:
    return _in_exposure(exposure.hazards, name, "hazard", "layers")


def class_code(layer: HazardExposure, value: str | int) -> int:
    """Return the class code of a class label or number on ``layer``."""
    if isinstance(value, int):
        return value
    try:
        return layer.class_labels.index(value)
    except ValueError:
        known = ", ".join(layer.class_labels)
        raise ScenarioError(
            f"layer '{layer.name}' has no class '{value}' (classes: {known})"
        ) from None


def _fmt(value: float) -> str:
    return f"{value:g}"


def _hazard_condition(
    exposure: Exposure, rule: HazardRule | LivelihoodRule
) -> tuple[str, np.ndarray]:
    layer = _layer(exposure, rule.layer)
    if rule.min_class is not None:
        code = class_code(layer, rule.min_class)
        label = layer.class_labels[code] if 0 <= code < len(layer.class_labels) else str(code)
        return f"{layer.name}>={label}", layer.hazard_class >= code
    lo = rule.min_intensity
    hi = getattr(rule, "max_intensity", None)
    mask = np.ones(len(layer.intensity), dtype=bool)
    if lo is not None:
        mask &= at_least(layer.intensity, lo)
    if hi is not None:
        mask &= at_most(layer.intensity, hi)
    if lo is not None and hi is not None:
        return f"{_fmt(lo)}<={layer.name}<={_fmt(hi)}", mask
    if lo is not None:
        return f"{layer.name}>={_fmt(lo)}", mask
    assert hi is not None
    return f"{layer.name}<={_fmt(hi)}", mask


def zone_mask(exposure: Exposure, rule: ZoneRule) -> tuple[str, np.ndarray, list[str]]:
    """Return the label and mask of a zone condition, and the zone names no zone has."""
    zone = _in_exposure(exposure.zones, rule.layer, "zone", "zone layers")
    names = [str(v).casefold().strip() for v in zone.table["name"].to_numpy(dtype=object)]
    wanted = {v.casefold().strip() for v in rule.in_}
    ok = np.array([n in wanted for n in names] + [False], dtype=bool)  # code -1 -> False
    missing = [v for v in rule.in_ if v.casefold().strip() not in set(names)]
    label = f"{rule.layer}=" + "/".join(rule.in_)
    return label, ok[zone.codes], missing


def _missing_zones_warning(where: str, rule: ZoneRule, missing: list[str]) -> str:
    return (
        f"{where}: zone layer '{rule.layer}' has no zone named {', '.join(map(repr, missing))}; "
        "no household can be in it"
    )


def _category_mask(exposure: Exposure, column: str, allowed: set[str]) -> np.ndarray:
    frame = exposure.registry.frame
    col = frame[column]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    cats = col.cat.categories.to_numpy(dtype=object)
    ok = np.array([str(c) in allowed for c in cats] + [False], dtype=bool)  # code -1 -> False
    return ok[exposure.registry.array(column)]


#: The admin level a unit-relative rule falls back to for households with no unit.
PARENT_LEVEL: dict[str, str] = {"tehsil": "district", "district": "province"}


@dataclass(frozen=True)
class Fallback:
    """Households ranked one level up by an area-relative rule (their unit is unknown)."""

    level: str
    parent: str
    households: int
    parents: tuple[str, ...]


def bottom_percent_with_fallback(
    exposure: Exposure, level: str, percent: float, seed: int, source: str = "recorded"
) -> tuple[np.ndarray, list[Fallback]]:
    """Return the area-relative mask with the next-level-up fallback, and the fallbacks used.

    Households with a unit at ``level`` are ranked within it; those without one are ranked
    among all households of their unit at the next level up (:data:`PARENT_LEVEL`), and so on.
    ``source``: recorded or located units (:func:`~rahat.engine.targeting.units.admin_units`).
    """
    mask = bottom_percent(exposure, level, percent, seed, source)
    fallbacks: list[Fallback] = []
    missing = admin_units(exposure, level, source).codes < 0
    current = level
    while missing.any() and current in PARENT_LEVEL:
        parent = PARENT_LEVEL[current]
        try:
            parent_units = admin_units(exposure, parent, source)
        except ScenarioError:
            break
        known = missing & (parent_units.codes >= 0)
        if known.any():
            upper = bottom_percent(exposure, parent, percent, seed, source)
            mask[known] = upper[known]
            codes = np.unique(parent_units.codes[known])
            names = tuple(sorted(str(n) for n in parent_units.names[codes]))
            fallbacks.append(Fallback(current, parent, int(known.sum()), names))
        missing = missing & ~known
        current = parent
    return mask, fallbacks


def _fallback_warning(rule_label: str, fb: Fallback, source: str = "recorded") -> str:
    where = "in the registry" if source == "recorded" else "at their location"
    return (
        f"{fb.households:,} households have no {fb.level} {where}; rule '{rule_label}' "
        f"ranked them within their {fb.parent} instead ({len(fb.parents)} {fb.parent}(s): "
        f"{', '.join(fb.parents)})"
    )


def bottom_percent(
    exposure: Exposure, level: str, percent: float, seed: int, source: str = "recorded"
) -> np.ndarray:
    """Return the area-relative mask: bottom ``percent`` % by PMT within each unit of ``level``.

    Households with no unit at ``level`` fail here; :func:`bottom_percent_with_fallback`
    ranks them one level up. ``source``: recorded or located units.
    """
    registry = exposure.registry
    units = admin_units(exposure, level, source)

    def positions() -> tuple[np.ndarray, np.ndarray]:
        # Position of each household within its unit, PMT ascending, ties by keyed hash.
        pmt = registry.array("pmt_score")
        tiebreak = keyed_hash(registry.household_id, seed)
        pos = group_positions(units.codes, pmt, tiebreak, len(units))
        counts = np.bincount(units.codes[units.codes >= 0], minlength=len(units))
        return pos, counts

    if source == "recorded":
        pos, counts = memoised(registry, ("unit_positions", level, seed), positions)
    else:  # located units depend on the overlay, not only on the registry: not memoised
        pos, counts = positions()
    quota = np.ceil(counts * (percent / 100.0) - 1e-9).astype(np.int64)
    inside = units.codes >= 0
    out = np.zeros(len(pos), dtype=bool)
    out[inside] = pos[inside] < quota[units.codes[inside]]
    return out


@lru_cache(maxsize=32)
def _assisted_ids(path: str, mtime_ns: int, size: int) -> np.ndarray:
    try:
        table = pd.read_csv(path, usecols=lambda c: c.strip().lower() == "household_id")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UnreadableFileError(
            f"cannot read the assisted-households list: {exc}", source=path
        ) from None
    if table.shape[1] != 1:
        raise SchemaError("an assisted-households list needs a 'household_id' column", source=path)
    ids = pd.to_numeric(table.iloc[:, 0], errors="coerce")
    if ids.isna().any():
        bad = int(ids.isna().sum())
        raise SchemaError(f"{bad} household_id values are not integers", source=path)
    return np.unique(ids.to_numpy(dtype=np.int64))


def assisted_ids(scenario: Scenario) -> np.ndarray:
    """Return the sorted unique ids in the scenario's assisted-households CSV lists."""
    parts = [np.empty(0, dtype=np.int64)]
    for name in scenario.eligibility.exclude.assisted_lists:
        path = scenario.resolve_path(name)
        try:
            stat = path.stat()
        except OSError:
            raise UnreadableFileError(
                "assisted-households list not found; fix the path in "
                "eligibility.exclude.assisted_lists",
                source=path,
            ) from None
        parts.append(_assisted_ids(str(path), stat.st_mtime_ns, stat.st_size))
    return np.unique(np.concatenate(parts))


def _programme_mask(exposure: Exposure, programmes: list[str]) -> np.ndarray:
    frame = exposure.registry.frame
    n = len(frame)
    if "programmes" not in frame.columns:
        return np.zeros(n, dtype=bool)
    col = frame["programmes"]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    wanted = set(programmes)
    enrolled = np.array(
        [bool(wanted & set(str(c).split(PROGRAMME_SEPARATOR))) for c in col.cat.categories]
        + [False],
        dtype=bool,
    )
    return enrolled[exposure.registry.array("programmes")]


def evaluate_rules(scenario: Scenario, exposure: Exposure) -> RuleSet:
    """Evaluate every eligibility rule of ``scenario`` on every household of ``exposure``.

    Returns
    -------
    RuleSet
        Rules in a fixed order (hazard, livelihood, pmt, area_relative, notified, zone,
        dwelling, assisted, programmes, stale), the ``affected`` mask and the ``eligible``
        mask. ``stale`` is the gate of ``stale_records: {action: exclude}``: a record not
        updated for more than N years fails it (:mod:`rahat.engine.targeting.stale`).
    """
    e = scenario.eligibility
    registry = exposure.registry
    n = len(registry)
    rules: list[RuleResult] = []

    warnings: list[str] = []
    hazard_masks = []
    for i, rule in enumerate(e.hazard):
        label, mask = _hazard_condition(exposure, rule)
        if rule.where is not None:
            zlabel, zmask, missing = zone_mask(exposure, rule.where)
            label, mask = f"{label}@{zlabel}", mask & zmask
            if missing:
                warnings.append(
                    _missing_zones_warning(f"eligibility.hazard[{i}].where", rule.where, missing)
                )
        rules.append(RuleResult("hazard", label, mask, affects=True, index=i))
        hazard_masks.append(mask)
    livelihood_masks = []
    for i, lrule in enumerate(e.livelihood):
        cond_label, cond = _hazard_condition(exposure, lrule)
        who = "/".join(str(v.value) for v in lrule.livelihoods)
        active = lrule.seasons is None or scenario.season in lrule.seasons
        when = "" if lrule.seasons is None else "@" + "/".join(lrule.seasons)
        label = f"{who}&{cond_label}{when}" + ("" if active else "(off)")
        if active:
            mask = cond & _category_mask(
                exposure, "livelihood", {v.value for v in lrule.livelihoods}
            )
        else:
            mask = np.zeros(n, dtype=bool)
        rules.append(RuleResult("livelihood", label, mask, affects=True, index=i))
        livelihood_masks.append(mask)

    if hazard_masks:
        combine = np.logical_and if e.hazard_combine == "all" else np.logical_or
        affected = combine.reduce(hazard_masks)
        by_hazard = affected.copy()
    else:
        affected = np.zeros(n, dtype=bool) if livelihood_masks else np.ones(n, dtype=bool)
        by_hazard = None
    livelihood_rules = [r for r in rules if r.key == "livelihood"]
    for rule_result, mask in zip(livelihood_rules, livelihood_masks, strict=True):
        if by_hazard is not None and mask.any() and not (mask & ~by_hazard).any():
            warnings.append(
                f"livelihood rule '{rule_result.label}' changes nothing: all "
                f"{int(mask.sum()):,} households it covers already pass the hazard rules"
            )
        affected = affected | mask

    if e.pmt_cutoff is not None:
        pmt = registry.array("pmt_score")
        rules.append(RuleResult("pmt", f"pmt<={_fmt(e.pmt_cutoff)}", at_most(pmt, e.pmt_cutoff)))
    if e.area_relative is not None:
        ar = e.area_relative
        source = scenario.admin_units
        mask, fallbacks = bottom_percent_with_fallback(
            exposure, ar.level, ar.bottom_percent, scenario.seed, source
        )
        label = f"bottom{_fmt(ar.bottom_percent)}%/{ar.level}"
        if source == "located":
            label += "@located"
        if fallbacks:
            label += "(else " + "/".join(fb.parent for fb in fallbacks) + ")"
        rules.append(RuleResult("area_relative", label, mask))
        warnings.extend(_fallback_warning(label, fb, source) for fb in fallbacks)
    if e.notified is not None:
        units = admin_units(exposure, e.notified.level, scenario.admin_units)
        hit, _ = units.match(e.notified.units)
        mask = np.append(hit, False)[units.codes]
        label = f"notified_{e.notified.level}"
        if scenario.admin_units == "located":
            label += "@located"
        rules.append(RuleResult("notified", label, mask))
    for i, zrule in enumerate(e.zone):
        label, mask, missing = zone_mask(exposure, zrule)
        rules.append(RuleResult("zone", label, mask, index=i))
        if missing:
            warnings.append(_missing_zones_warning(f"eligibility.zone[{i}]", zrule, missing))
    if e.dwelling is not None:
        allowed = {d.value for d in e.dwelling}
        mask = _category_mask(exposure, "dwelling", allowed)
        rules.append(RuleResult("dwelling", "dwelling=" + "/".join(sorted(allowed)), mask))
    if e.exclude.assisted_lists:
        ids = assisted_ids(scenario)
        mask = ~np.isin(registry.household_id, ids, assume_unique=False)
        rules.append(RuleResult("assisted", "not_assisted", mask))
    if e.exclude.programmes:
        mask = ~_programme_mask(exposure, e.exclude.programmes)
        label = "not_in=" + "/".join(sorted(e.exclude.programmes))
        rules.append(RuleResult("programmes", label, mask))

    stale = scenario.stale_records
    if stale is not None and stale.action == "exclude":
        mask = ~registry_stale(registry, stale.older_than_years).stale
        rules.append(RuleResult("stale", stale_label(stale.older_than_years), mask))

    eligible = affected.copy()
    for r in rules:
        if not r.affects:
            eligible &= r.passed
    return RuleSet(tuple(rules), affected, eligible, tuple(warnings))
