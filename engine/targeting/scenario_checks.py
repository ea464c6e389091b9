"""Cross-field checks of a targeting scenario: what the schema alone cannot say.

:func:`cross_checks` runs one named step per block of the scenario (hazard layers, zone
layers, eligibility rules, priority, benefit, budget and quotas, stale records) and returns
every problem found, each with its field path and, where it helps, the closest valid name.
:func:`raise_problems` turns them into one :class:`~rahat.geo.errors.ScenarioError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rahat.engine.targeting.scenario_models import (
    BUILTIN_ZONE_LAYERS,
    HazardLayerSpec,
    HazardRule,
    LivelihoodRule,
    Scenario,
    ZoneRule,
)
from rahat.geo.demo_hazards import DEMO_PREFIX
from rahat.geo.errors import InputError, ScenarioError
from rahat.geo.registry.schema import PROGRAMMES

#: Most problems listed in one error (the count says how many there are).
MAX_PROBLEMS_SHOWN = 20


def suggest(value: str, options: Iterable[str]) -> str:
    """Return ``"; did you mean 'X'?"`` for the option closest to ``value`` (or ``""``)."""
    opts = list(options)
    close = difflib.get_close_matches(value, opts, n=1, cutoff=0.6)
    if not close:
        lowered = {o.casefold(): o for o in opts}
        close = [
            lowered[m]
            for m in difflib.get_close_matches(value.casefold(), list(lowered), n=1, cutoff=0.6)
        ]
    return f"; did you mean '{close[0]}'?" if close else ""


def raise_problems(
    problems: list[str],
    source: str | None,
    error: type[InputError] = ScenarioError,
    what: str = "scenario",
) -> None:
    """Raise one ``error`` (a :class:`~rahat.geo.errors.ScenarioError`) listing ``problems``.

    Nothing is raised when there are none; ``what`` names the file's kind in the message.
    """
    if not problems:
        return
    head = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    shown = problems[:MAX_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    body = "\n".join(f"  - {p}" for p in shown) + (f"\n  - ... and {more} more" if more else "")
    raise error(f"invalid {what}, {head}:\n{body}", source=source)


def _classification(layer: HazardLayerSpec) -> Any:
    from rahat.geo.hazards.classes import default_classes

    overrides = {layer.kind: layer.classes} if layer.classes else None
    return default_classes(layer.kind, overrides)


def _check_class(
    where: str, value: str | int, layer: HazardLayerSpec, classes: Any, problems: list[str]
) -> None:
    if isinstance(value, int):
        if not 0 <= value < classes.n_classes:
            problems.append(
                f"{where}: class {value} is above the highest class of layer '{layer.name}' "
                f"({classes.n_classes - 1} = {classes.labels[-1]}); no household could pass"
            )
    elif value not in classes.labels:
        problems.append(
            f"{where}: unknown class '{value}' for layer '{layer.name}' ({layer.kind})"
            f"{suggest(value, classes.labels)} (classes: {', '.join(classes.labels)})"
        )


def _class_code(value: str | int, classes: Any) -> int | None:
    if isinstance(value, int):
        return value
    labels = list(classes.labels)
    return labels.index(value) if value in labels else None


def _implies(rule: LivelihoodRule, hazard: HazardRule, classes: Any) -> bool:
    """Whether every value passing ``rule``'s condition passes ``hazard``'s (same layer).

    Decided from the rules and the layer's classes alone; ``False`` when not provable.
    """
    if hazard.max_intensity is not None or hazard.where is not None:
        return False
    if hazard.min_class is not None:
        c_h = _class_code(hazard.min_class, classes)
        if c_h is None:
            return False
        if c_h <= 0:
            return True  # every value with data passes class >= 0
        if rule.min_class is not None:
            c_l = _class_code(rule.min_class, classes)
            return c_l is not None and c_l >= c_h
        if rule.min_intensity is None or classes.descending:
            return False
        t = classes.thresholds[c_h - 1]
        return rule.min_intensity >= t if classes.inclusive else rule.min_intensity > t
    if hazard.min_intensity is None:
        return False
    if rule.min_intensity is not None:
        return rule.min_intensity >= hazard.min_intensity
    if rule.min_class is None or classes.descending:
        return False
    c_l = _class_code(rule.min_class, classes)
    if c_l is None or c_l <= 0:
        return False
    return bool(classes.thresholds[c_l - 1] >= hazard.min_intensity)


@dataclass
class _Checks:
    """What the steps share: the scenario, the problems so far, the layers declared."""

    s: Scenario
    problems: list[str] = field(default_factory=list)
    layers: dict[str, HazardLayerSpec] = field(default_factory=dict)
    classes: dict[str, Any] = field(default_factory=dict)
    zone_layers: list[str] = field(default_factory=lambda: list(BUILTIN_ZONE_LAYERS))

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def need_layer(self, where: str, name: str | None) -> HazardLayerSpec | None:
        """Return hazard layer ``name``, noting a problem when it is not declared."""
        if name is None:
            return None
        if name in self.layers:
            return self.layers[name]
        if not self.layers:
            self.add(
                f"{where}: refers to hazard layer '{name}' but the hazard list is empty; "
                "add the layer under 'hazards'"
            )
        else:
            self.add(
                f"{where}: no hazard layer named '{name}'{suggest(name, self.layers)} "
                f"(layers: {', '.join(self.layers)})"
            )
        return None

    def check_zone_rule(self, where: str, zrule: ZoneRule) -> None:
        """Note a zone rule naming an undeclared zone layer."""
        if zrule.layer not in self.zone_layers:
            self.add(
                f"{where}.layer: no zone layer named '{zrule.layer}'"
                f"{suggest(zrule.layer, self.zone_layers)} "
                f"(zone layers: {', '.join(self.zone_layers)}; declare your own under 'zones')"
            )

    def check_crs(self, where: str, crs: str | None) -> None:
        """Note a CRS that cannot be parsed."""
        if crs is None:
            return
        from rahat.geo.hazards.crs import parse_crs

        try:
            parse_crs(crs)
        except InputError as exc:
            self.add(f"{where}: {exc.detail}")

    def check_class(self, where: str, value: str | int, layer: HazardLayerSpec | None) -> None:
        """Note a class that layer ``layer`` does not have."""
        if layer is not None and layer.name in self.classes:
            _check_class(where, value, layer, self.classes[layer.name], self.problems)


def _hazard_layers(c: _Checks) -> None:
    from rahat.geo.hazards.kinds import HazardKind

    kinds = [k.value for k in HazardKind]
    for i, layer in enumerate(c.s.hazards):
        if layer.name in c.layers:
            c.add(f"hazards[{i}].name: layer name '{layer.name}' is used twice")
        c.layers[layer.name] = layer
        if layer.kind not in kinds:
            c.add(
                f"hazards[{i}].kind: unknown hazard kind '{layer.kind}'"
                f"{suggest(layer.kind, kinds)} (kinds: {', '.join(kinds)})"
            )
            continue
        if layer.path.startswith(DEMO_PREFIX):
            from rahat.geo.demo_hazards import DEMO_HAZARDS

            name = layer.path.removeprefix(DEMO_PREFIX)
            if name not in DEMO_HAZARDS:
                c.add(
                    f"hazards[{i}].path: unknown demo layer '{name}'"
                    f"{suggest(name, DEMO_HAZARDS)} (demo layers: {', '.join(DEMO_HAZARDS)})"
                )
        try:
            c.classes[layer.name] = _classification(layer)
        except InputError as exc:
            c.add(f"hazards[{i}].classes: {exc.detail}")
        c.check_crs(f"hazards[{i}].crs", layer.crs)


#: Per reduction of a time axis: the options it requires (with what each means) and the
#: others it takes.
_TIME_OPTIONS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "max": ({}, ("start", "end")),
    "at": ({"at": "the time whose nearest step is used"}, ()),
    "duration": ({"threshold": "steps at least this value are counted"}, ("start", "end")),
    "accumulate": ({"days": "how many daily steps are summed"}, ("end",)),
}


def _time_of(text: str) -> datetime | None:
    """Return ``text`` as a UTC time, or ``None`` when it is not one."""
    from rahat.geo.hazards.time import to_datetime

    try:
        value = to_datetime(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, datetime) and value == value else None


def _hazard_times(c: _Checks) -> None:
    for i, layer in enumerate(c.s.hazards):
        option = layer.time
        if option is None:
            continue
        where = f"hazards[{i}].time"
        needed, takes = _TIME_OPTIONS[option.reduce]
        for name, meaning in needed.items():
            if getattr(option, name) is None:
                c.add(f"{where}.{name}: required when reduce is '{option.reduce}' ({meaning})")
        valid = [*needed, *takes]
        for name in ("start", "end", "at", "threshold", "days"):
            if getattr(option, name) is not None and name not in valid:
                c.add(
                    f"{where}.{name}: not used by reduce '{option.reduce}' (it takes "
                    f"{', '.join(valid) or 'no option'}); remove it or change reduce"
                )
        times: dict[str, datetime] = {}
        for name in ("start", "end", "at"):
            text = getattr(option, name)
            if text is None:
                continue
            value = _time_of(text)
            if value is None:
                c.add(
                    f"{where}.{name}: cannot read '{text}' as a time; write ISO 8601, e.g. "
                    "2022-08-26 or 2022-08-26T06:00:00Z"
                )
            else:
                times[name] = value
        if "start" in times and "end" in times and times["start"] > times["end"]:
            c.add(
                f"{where}: start {option.start} is after end {option.end}; no time step "
                "could be used"
            )


def _zone_layers(c: _Checks) -> None:
    for i, zspec in enumerate(c.s.zones):
        if zspec.name in c.zone_layers:
            c.add(
                f"zones[{i}].name: zone layer name '{zspec.name}' is used twice or is a "
                f"built-in layer ({', '.join(BUILTIN_ZONE_LAYERS)})"
            )
        c.zone_layers.append(zspec.name)
        c.check_crs(f"zones[{i}].crs", zspec.crs)
    for i, zrule in enumerate(c.s.eligibility.zone):
        c.check_zone_rule(f"eligibility.zone[{i}]", zrule)


def _hazard_rules(c: _Checks) -> None:
    for i, rule in enumerate(c.s.eligibility.hazard):
        where = f"eligibility.hazard[{i}]"
        hlayer = c.need_layer(f"{where}.layer", rule.layer)
        if rule.where is not None:
            c.check_zone_rule(f"{where}.where", rule.where)
        given = [rule.min_intensity, rule.max_intensity, rule.min_class]
        if all(v is None for v in given):
            c.add(f"{where}: give min_intensity, max_intensity or min_class")
        if rule.min_class is not None and (
            rule.min_intensity is not None or rule.max_intensity is not None
        ):
            c.add(f"{where}: give either an intensity bound or min_class, not both")
        if (
            rule.min_intensity is not None
            and rule.max_intensity is not None
            and rule.min_intensity > rule.max_intensity
        ):
            c.add(
                f"{where}: min_intensity {rule.min_intensity} > max_intensity "
                f"{rule.max_intensity}; no household could pass"
            )
        if rule.min_class is not None:
            c.check_class(f"{where}.min_class", rule.min_class, hlayer)


def _livelihood_rules(c: _Checks) -> None:
    e = c.s.eligibility
    for i, rule in enumerate(e.livelihood):
        where = f"eligibility.livelihood[{i}]"
        layer = c.need_layer(f"{where}.layer", rule.layer)
        if (rule.min_intensity is None) == (rule.min_class is None):
            c.add(f"{where}: give exactly one of min_intensity or min_class")
        if rule.min_class is not None:
            c.check_class(f"{where}.min_class", rule.min_class, layer)
        if rule.seasons is not None and c.s.season is None:
            c.add(
                f"{where}.seasons: the rule depends on the season but the scenario sets none; "
                "add 'season: kharif' or 'season: rabi'"
            )
        if layer is None or layer.name not in c.classes or not e.hazard:
            continue
        implied = [
            _implies(rule, h, c.classes[layer.name]) if h.layer == rule.layer else False
            for h in e.hazard
        ]
        if all(implied) if e.hazard_combine == "all" else any(implied):
            which = [f"eligibility.hazard[{j}]" for j, ok in enumerate(implied) if ok]
            c.add(
                f"{where}: changes nothing: every household it covers already passes "
                f"{' and '.join(which) if e.hazard_combine == 'all' else which[0]} on "
                f"layer '{rule.layer}'; a livelihood rule must reach beyond the hazard "
                "rules (a lower threshold, or another layer), or be removed"
            )


def _eligibility_lists(c: _Checks) -> None:
    e = c.s.eligibility
    if e.dwelling is not None and not e.dwelling:
        c.add("eligibility.dwelling: empty list; no household could pass (omit it)")
    for i, programme in enumerate(e.exclude.programmes):
        if programme not in PROGRAMMES:
            c.add(
                f"eligibility.exclude.programmes[{i}]: unknown programme '{programme}'"
                f"{suggest(programme, PROGRAMMES)} (programmes: {', '.join(PROGRAMMES)})"
            )
    if not e.hazard and not e.livelihood and e.notified is None:
        c.add(
            "eligibility: no hazard rule, livelihood rule or notified units; every registered "
            "household would qualify. Add 'hazard', 'livelihood' or 'notified'"
        )


def _priority(c: _Checks) -> None:
    p = c.s.priority
    if p.severity_layer is not None:
        c.need_layer("priority.severity_layer", p.severity_layer)
    if p.weights.severity > 0 and not c.layers:
        c.add("priority.weights.severity: needs a hazard layer; the hazard list is empty")
    if p.severity_by == "intensity" and p.severity_max is None:
        c.add("priority.severity_max: required when severity_by is 'intensity'")


def _benefit(c: _Checks) -> None:
    b = c.s.benefit
    if b.kind == "fixed" and b.amount is None:
        c.add("benefit.amount: required for a fixed transfer")
    if b.kind == "household_size":
        if not b.brackets:
            c.add("benefit.brackets: required for kind 'household_size'")
        else:
            sizes = [br.max_size for br in b.brackets]
            if sizes[-1] is not None:
                c.add("benefit.brackets: the last bracket must have no max_size")
            bounded = [x for x in sizes[:-1] if x is not None]
            if len(bounded) != len(sizes) - 1 or bounded != sorted(set(bounded)):
                c.add("benefit.brackets: max_size must increase strictly")
    if b.kind == "hazard_class":
        layer = c.need_layer("benefit.layer", b.layer)
        if b.layer is None:
            c.add("benefit.layer: required for kind 'hazard_class'")
        if b.amount is None:
            c.add("benefit.amount: required (the transfer for classes not in by_class)")
        if not b.by_class:
            c.add("benefit.by_class: required for kind 'hazard_class'")
        else:
            for label in b.by_class:  # amounts: bounded by the schema (never negative)
                c.check_class(f"benefit.by_class.{label}", label, layer)


def _budget_and_quotas(c: _Checks) -> None:
    q, budget = c.s.quotas, c.s.budget
    if q is not None:
        if q.mode == "fixed":
            if not q.shares:
                c.add("quotas.shares: required when mode is 'fixed'")
            else:
                if any(v < 0 for v in q.shares.values()):
                    c.add("quotas.shares: shares must not be negative")
                total = sum(q.shares.values())
                if abs(total - 1.0) > 1e-6:
                    c.add(f"quotas.shares: shares sum to {total:g}, not 1")
        elif q.shares:
            c.add("quotas.shares: only used with mode 'fixed'; remove it or set mode")
        if budget.total is None and budget.max_households is None and not budget.same_as:
            c.add("quotas: need a budget (total or max_households) to split")
    if budget.same_as is not None and budget.total is not None:
        c.add("budget.same_as: give either total or same_as, not both")
    if budget.reserve_share() > 0 and (
        budget.total is None and budget.max_households is None and not budget.same_as
    ):
        c.add(
            "budget.reserve_for_unregistered: needs a budget (total, max_households or same_as) "
            "to hold the reserve back from"
        )


def _stale_records(c: _Checks) -> None:
    option = c.s.stale_records
    if option is None:
        return
    if option.action == "down_weight" and option.weight is None:
        c.add(
            "stale_records.weight: required when action is 'down_weight' (the factor, 0 to 1, "
            "a stale record's priority score is multiplied by)"
        )
    if option.action != "down_weight" and option.weight is not None:
        c.add(
            f"stale_records.weight: only used with action 'down_weight', not '{option.action}'; "
            "remove it or set action: down_weight"
        )


#: The checks, in the order their problems are listed (hazard layers first: others use them).
_STEPS: tuple[Callable[[_Checks], None], ...] = (
    _hazard_layers,
    _hazard_times,
    _zone_layers,
    _hazard_rules,
    _livelihood_rules,
    _eligibility_lists,
    _priority,
    _benefit,
    _budget_and_quotas,
    _stale_records,
)


def cross_checks(s: Scenario) -> list[str]:
    """Return every cross-field problem of a schema-valid scenario (empty: none)."""
    c = _Checks(s)
    for step in _STEPS:
        step(c)
    return c.problems
