"""What-if without I/O: a scenario and a few overrides, evaluated side by side on one exposure.

``whatif(base, {"pmt_cutoff": 35}, registry, cache)`` reads the base scenario's hazard layers,
takes the overlay from ``cache`` (computed once, or a stored exposure), and evaluates the base
scenario and the variant on it: both totals, both caseloads by district and the comparison
(households added, dropped and kept; cost change). Nothing is written.

Overrides are named as sweep parameters are (:func:`rahat.engine.targeting.sweep.resolve_parameter`:
aliases such as ``pmt_cutoff`` or ``budget``, a hazard rule's layer, or a dotted path such as
``budget.total``); paths that change the overlay (``hazards``, ``zones``) are refused, as the
variant reuses the base's overlay. Values are typed by the scenario model: the text ``35`` is
a number where the field is one, ``true`` a boolean where it is one; ``null`` clears an
optional field.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rahat.engine.phases import PhaseClock
from rahat.geo.errors import ScenarioError

if TYPE_CHECKING:
    import pandas as pd

    from rahat.engine.pipeline import ExposureCache, LoadedRegistry
    from rahat.engine.targeting.caseload import Caseload
    from rahat.engine.targeting.compare import Comparison
    from rahat.engine.targeting.gap_join import GapTable
    from rahat.engine.targeting.scenario import Scenario
    from rahat.geo.registry.model import Registry
    from rahat.geo.registry.synth import Progress

#: Override value: a number, text (typed by the scenario model), a boolean or ``None``.
Value = float | int | str | bool | None

#: Most overrides of one what-if.
MAX_OVERRIDES = 20

#: Longest override key.
MAX_KEY_LENGTH = 200

#: Scenario fields of which at most one is set: overriding one clears the other.
_EXCLUSIVE = (("budget.total", "budget.same_as"), ("budget.same_as", "budget.total"))

#: Texts that clear an optional field.
NULL_TEXTS = frozenset({"null", "none", "~"})


@dataclass
class WhatIfResult:
    """A base scenario and its variant evaluated on the same exposure.

    Attributes
    ----------
    base, variant
        The two caseloads (their ``totals``; frames built on first use).
    overrides
        Dotted scenario path -> value applied to make the variant.
    comparison
        Households added, dropped and kept, cost change and coverage (variant vs base),
        worked out on first use (its time is then the ``compare`` phase).
    warnings
        Warnings of the hazard readers and sampling.
    phases
        Seconds per phase (``hazards``, ``overlay``, ``evaluate``, then ``compare``).
    """

    base: Caseload
    variant: Caseload
    overrides: dict[str, Value]
    warnings: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    _comparison: Comparison | None = field(default=None, repr=False)

    @property
    def comparison(self) -> Comparison:
        """The variant compared with the base (:func:`rahat.engine.targeting.compare_caseloads`)."""
        if self._comparison is None:
            from rahat.engine.targeting import compare_caseloads

            started = time.perf_counter()
            self._comparison = compare_caseloads(self.base, self.variant)
            self.phases["compare"] = round(time.perf_counter() - started, 3)
        return self._comparison

    def summary(self, levels: tuple[str, ...] = ("province", "district")) -> pd.DataFrame:
        """Base and variant caseloads side by side per admin unit (``base_``/``variant_``)."""
        keys = ["level", "province", "district", "tehsil", "pcode"]
        base = self.base.summary(levels=levels)
        variant = self.variant.summary(levels=levels)
        figures = [c for c in base.columns if c not in keys]
        left = base.rename(columns={c: f"base_{c}" for c in figures})
        right = variant.rename(columns={c: f"variant_{c}" for c in figures})
        return left.merge(right, on=keys, how="outer", sort=False)


def _typed(path: str, value: Value) -> Value:
    """``value`` for the scenario model: ``null`` clears; ``5e6`` is a whole number of rupees."""
    from decimal import Decimal, DecimalException

    from rahat.engine.targeting.sweep import _INTEGER_PATHS

    if isinstance(value, str):
        text = value.strip()
        if text.lower() in NULL_TEXTS:
            return None
        if path in _INTEGER_PATHS:
            try:
                number = Decimal(text.replace("_", ""))
            except DecimalException:
                return text  # the model says what is wrong with it
            if number.is_finite() and number == number.to_integral_value():
                return int(number)
        return text
    if isinstance(value, float) and path in _INTEGER_PATHS and value.is_integer():
        return int(value)
    return value


def parse_override(text: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (``--set``) into its key and value text.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        When there is no ``=`` or no key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        shown = text if len(text) <= 80 else text[:79] + "…"
        raise ScenarioError(f"override '{shown}': use KEY=VALUE, e.g. pmt_cutoff=35")
    return key.strip(), value


def resolve_overrides(base: Scenario, overrides: Mapping[str, Value]) -> dict[str, Value]:
    """Return ``overrides`` keyed by dotted scenario path, values typed for the model.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        Too many overrides, a key too long, unknown, or one that changes the overlay.
    """
    from rahat.engine.targeting.sweep import resolve_parameter

    if len(overrides) > MAX_OVERRIDES:
        raise ScenarioError(f"{len(overrides)} overrides; give at most {MAX_OVERRIDES}")
    out: dict[str, Value] = {}
    for name, value in overrides.items():
        key = str(name).strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ScenarioError(f"override keys are 1 to {MAX_KEY_LENGTH} characters")
        try:
            path = resolve_parameter(base, key)
        except ScenarioError as exc:
            raise ScenarioError(f"override '{key}': {exc.detail}") from None
        out[path] = _typed(path, value)
    return out


def variant_of(base: Scenario, overrides: Mapping[str, Value]) -> tuple[Scenario, dict[str, Value]]:
    """Return the validated variant of ``base`` and the resolved overrides.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        A bad key (:func:`resolve_overrides`), a path into nothing, or a value the scenario
        model refuses (every problem listed, as for a scenario file).
    """
    resolved = resolve_overrides(base, overrides)
    updates = dict(resolved)
    for given, other in _EXCLUSIVE:  # a budget total replaces a borrowed one, and back
        if given in updates and other not in updates:
            updates[other] = None
    try:
        variant = base.with_updates(updates)
    except ScenarioError:
        raise
    except (IndexError, KeyError, TypeError, AttributeError, ValueError):
        shown = ", ".join(resolved)
        raise ScenarioError(f"override path(s) {shown}: no such field in the scenario") from None
    return variant, resolved


class BaseMemo:
    """The base caseloads of recent what-ifs, so moving one slider evaluates only the variant.

    Evaluation is deterministic, so a base scenario evaluated on the same exposure (the same
    object of an :class:`~rahat.engine.pipeline.ExposureCache`) and coverage-gap table is the
    same caseload: it is kept (the last ``size``) and reused, not evaluated again.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._entries: list[tuple[str, object, object, Caseload]] = []
        self._lock = threading.Lock()

    def get(
        self, scenario: Scenario, exposure: object, gap: object, build: Callable[[], Caseload]
    ) -> Caseload:
        """The caseload of ``scenario`` on ``exposure`` and ``gap``: kept, or built now."""
        key = scenario.canonical_json()
        with self._lock:
            for entry in self._entries:
                if entry[0] == key and entry[1] is exposure and entry[2] is gap:
                    return entry[3]
        caseload = build()
        with self._lock:
            self._entries = [(key, exposure, gap, caseload), *self._entries][: self.size]
        return caseload


def whatif(
    base: Scenario,
    overrides: Mapping[str, Value],
    registry: Registry | LoadedRegistry,
    cache: ExposureCache,
    *,
    hazard_paths: Mapping[str, Path] | None = None,
    scenarios_dir: Path | None = None,
    check: Callable[[Scenario], None] | None = None,
    progress: Progress | None = None,
    gap: GapTable | None = None,
    memo: BaseMemo | None = None,
) -> WhatIfResult:
    """Evaluate ``base`` and ``base`` with ``overrides`` on one exposure; write nothing.

    Parameters
    ----------
    base
        The validated base scenario.
    overrides
        Parameter name (alias, hazard layer or dotted path) -> value (:func:`variant_of`).
    registry
        The registry (a :class:`~rahat.engine.pipeline.LoadedRegistry` or its households).
    cache
        Where the exposure comes from (computed once per registry and hazard files).
    hazard_paths
        Files to use instead of the scenario's hazard paths, by layer name.
    scenarios_dir
        Where ``budget.same_as`` looks for a scenario from no file.
    check
        Called with the variant before anything is read (e.g. admin-unit names); raises to
        refuse it.
    progress
        ``progress(stage, fraction)`` callback (the phases are timed from it).
    gap
        The coverage-gap table both sides are evaluated with
        (:func:`rahat.engine.targeting.gap_join.read_gap`).
    memo
        Where base caseloads are kept between calls (:class:`BaseMemo`); none kept if omitted.

    Returns
    -------
    WhatIfResult
        Both caseloads, the overrides, the comparison, warnings and phases.
    """
    from rahat.engine.pipeline import (
        LoadedRegistry,
        hazard_warnings,
        load_hazards,
        resolve_budget,
        sampling_warnings,
    )
    from rahat.engine.targeting import evaluate

    variant, resolved = variant_of(base, overrides)
    if check is not None:
        check(variant)
    clock = PhaseClock(progress or (lambda stage, fraction: None))
    households = registry.registry if isinstance(registry, LoadedRegistry) else registry
    clock("reading hazard layers", 0.2)
    hazards = load_hazards(base, hazard_paths=hazard_paths, registry_extent=households.bounds())
    clock("overlaying households with hazards and zones", 0.4)
    exposure = cache.exposure(households, hazards, base)
    clock("evaluating the base scenario and the variant", 0.7)

    def budgeted(scenario: Scenario) -> Scenario:
        if scenario.budget.same_as is None:
            return scenario
        return resolve_budget(
            scenario, households, hazard_paths=hazard_paths, cache=cache, folder=scenarios_dir
        )[0]

    before_scenario = budgeted(base)
    if base.budget.same_as is not None and not any(p.startswith("budget") for p in resolved):
        variant = before_scenario.with_updates(resolved)  # the same money, resolved once
    if memo is None:
        before = evaluate(before_scenario, exposure, gap)
    else:
        before = memo.get(
            before_scenario, exposure, gap, lambda: evaluate(before_scenario, exposure, gap)
        )
    after = evaluate(budgeted(variant), exposure, gap)
    return WhatIfResult(
        base=before,
        variant=after,
        overrides=resolved,
        warnings=[*hazard_warnings(hazards), *sampling_warnings(base, hazards)],
        phases=clock.phases(),
    )
