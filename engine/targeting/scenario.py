"""Targeting scenarios: a strict schema, a loader with readable errors, and cross-field checks.

A scenario is written as YAML in ``scenarios/`` (or sent as JSON to the API). Every model here
forbids unknown fields; :func:`load_scenario` turns all problems into **one**
:class:`~rahat.geo.errors.ScenarioError` that lists each problem with its field path and, for a
misspelt field, the closest valid name.

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
    quotas: {level: district, mode: proportional}
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from rahat.geo.errors import ScenarioError
from rahat.geo.paths import repo_root
from rahat.geo.registry.schema import PROGRAMMES, Dwelling, Livelihood

AdminLevel = Literal["province", "district", "tehsil"]
Season = Literal["kharif", "rabi"]

#: Default livelihoods whose income a hazard destroys (priority component ``livelihood_loss``).
DEFAULT_LOSS_LIVELIHOODS: tuple[Livelihood, ...] = (
    Livelihood.CROP_FARMING,
    Livelihood.LIVESTOCK,
    Livelihood.FISHING,
    Livelihood.DAILY_WAGE,
)

_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"

#: Largest location-uncertainty radius a scenario may ask for (metres).
MAX_RADIUS_M = 50_000.0

#: Zone layers every overlay has (rahat.engine.zones.default_zone_layers).
BUILTIN_ZONE_LAYERS: tuple[str, ...] = ("province", "district", "tehsil", "climate")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HazardLayerSpec(_Strict):
    """One hazard layer the scenario reads.

    ``path`` is absolute, relative (see :func:`resolve_scenario_path`: the scenario file's
    folder, then the repository root), or ``demo:NAME`` for a documented synthetic layer
    (:mod:`rahat.geo.demo_hazards`). ``layer`` names the layer of a multi-layer vector file
    (a TopoJSON object, a GeoPackage table); ``crs`` is the CRS of a file that states none
    (TopoJSON never does), as ``EPSG:xxxx`` or WKT. Both go to
    :func:`rahat.geo.hazards.read_hazard` unchanged.
    """

    name: str = Field(pattern=_NAME_PATTERN, description="Layer name used by the rules")
    path: str = Field(min_length=1)
    kind: str = Field(description="A rahat.geo.hazards.HazardKind value, e.g. flood_depth")
    intensity_field: str | None = None
    layer: str | None = Field(
        default=None, min_length=1, description="Layer of a multi-layer vector file"
    )
    crs: str | None = Field(
        default=None, min_length=1, description="CRS of a file that has none (EPSG:xxxx, WKT)"
    )
    units: str | None = None
    classes: dict[str, Any] | None = Field(
        default=None, description="Override of the kind's classes (labels, thresholds, ...)"
    )
    radius_m: float = Field(
        default=0.0,
        ge=0,
        le=MAX_RADIUS_M,
        description="Location uncertainty: sample the cells within this many metres (rasters)",
    )
    reducer: Literal["max", "mean"] = Field(
        default="max", description="How the cells within radius_m combine: max or mean"
    )


class ZoneLayerSpec(_Strict):
    """A user polygon zone layer (livelihood zones, ...) households are assigned to.

    ``path`` resolves like a hazard path; ``field`` is the attribute holding each zone's name;
    ``layer`` and ``crs`` as for hazard layers. Zone rules refer to it by ``name``.
    """

    name: str = Field(pattern=_NAME_PATTERN, description="Zone layer name used by the rules")
    path: str = Field(min_length=1)
    field: str = Field(min_length=1, description="Attribute holding each zone's name")
    layer: str | None = Field(default=None, min_length=1)
    crs: str | None = Field(default=None, min_length=1)


class ZoneRule(_Strict):
    """Households located in one of the zones ``in`` of zone layer ``layer``.

    ``layer``: ``climate`` (Köppen codes such as ``BWh``), ``province``, ``district``,
    ``tehsil`` (the located unit) or a scenario ``zones`` layer. Zone names match ignoring case.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    layer: str
    in_: list[str] = Field(alias="in", min_length=1)


class HazardRule(_Strict):
    """Intensity at least (or at most) a value, or class at least a level, on one layer."""

    layer: str
    min_intensity: float | None = None
    max_intensity: float | None = None
    min_class: str | int | None = None
    where: ZoneRule | None = Field(
        default=None, description="Apply the rule only to households in these zones"
    )


class AreaRelativeRule(_Strict):
    """Bottom ``bottom_percent`` % of registered households by PMT score, per admin unit."""

    level: AdminLevel
    bottom_percent: float = Field(gt=0, le=100)


class NotifiedUnits(_Strict):
    """Admin units notified as calamity-hit, by name or P-code."""

    level: AdminLevel
    units: list[str] = Field(min_length=1)


class LivelihoodRule(_Strict):
    """Households with one of ``livelihoods`` qualify as affected when the hazard condition holds.

    ``seasons``: the rule applies only when the scenario's ``season`` is one of them (``None``:
    every season).
    """

    livelihoods: list[Livelihood] = Field(min_length=1)
    layer: str
    min_intensity: float | None = None
    min_class: str | int | None = None
    seasons: list[Season] | None = None


class Exclusions(_Strict):
    """Households to leave out: already assisted (CSV lists of ids) or enrolled in programmes."""

    assisted_lists: list[str] = Field(default_factory=list)
    programmes: list[str] = Field(default_factory=list)


class Eligibility(_Strict):
    """Eligibility rules; a household is eligible when it passes all of them (see rules.py)."""

    pmt_cutoff: float | None = Field(default=None, ge=0, le=100)
    area_relative: AreaRelativeRule | None = None
    hazard: list[HazardRule] = Field(default_factory=list)
    hazard_combine: Literal["any", "all"] = "any"
    notified: NotifiedUnits | None = None
    livelihood: list[LivelihoodRule] = Field(default_factory=list)
    zone: list[ZoneRule] = Field(default_factory=list)
    dwelling: list[Dwelling] | None = None
    exclude: Exclusions = Field(default_factory=Exclusions)


class PriorityWeights(_Strict):
    """Weights of the priority components (non-negative; normalised by their sum)."""

    severity: float = Field(default=0.0, ge=0)
    poverty: float = Field(default=0.0, ge=0)
    children_under5: float = Field(default=0.0, ge=0)
    elderly: float = Field(default=0.0, ge=0)
    disabled: float = Field(default=0.0, ge=0)
    female_headed: float = Field(default=0.0, ge=0)
    kacha: float = Field(default=0.0, ge=0)
    livelihood_loss: float = Field(default=0.0, ge=0)


class Priority(_Strict):
    """Need-based priority score (priority.py documents every component)."""

    weights: PriorityWeights = Field(default_factory=PriorityWeights)
    severity_layer: str | None = None
    severity_by: Literal["class", "intensity"] = "class"
    severity_max: float | None = Field(default=None, gt=0)
    loss_livelihoods: list[Livelihood] = Field(
        default_factory=lambda: list(DEFAULT_LOSS_LIVELIHOODS)
    )


class SizeBracket(_Strict):
    """Transfer for households of at most ``max_size`` members (``None``: any larger size)."""

    max_size: int | None = Field(default=None, ge=1)
    amount: int = Field(ge=0)


class Benefit(_Strict):
    """Transfer per household, in rupees.

    ``fixed``: ``amount``. ``household_size``: the first of ``brackets`` whose ``max_size`` is at
    least the household size. ``hazard_class``: ``by_class[label]`` of the household's class on
    ``layer``, ``amount`` for classes not listed.
    """

    kind: Literal["fixed", "household_size", "hazard_class"] = "fixed"
    amount: int | None = Field(default=None, ge=0)
    brackets: list[SizeBracket] | None = None
    layer: str | None = None
    by_class: dict[str, int] | None = None


class Budget(_Strict):
    """Total envelope in rupees and/or a maximum number of households (``None``: no limit).

    ``same_as`` instead of ``total``: the envelope is what another scenario spends on the same
    registry and hazard files, so "the same money" holds on any registry. It names a scenario
    file of the same folder (``bisp_2022_as_done``, with or without ``.yaml``/``.yml``/
    ``.json``) or the ``name`` of one; for a scenario that comes from no file (the API's inline
    scenarios) the scenarios folder (``RAHAT_SCENARIOS_DIR``). The named scenario is evaluated
    first in the same run, on the same overlay; its own ``same_as`` is followed in turn and a
    cycle is an error (:func:`rahat.engine.targeting.budget.resolve_same_as`).
    """

    total: int | None = Field(default=None, ge=0)
    max_households: int | None = Field(default=None, ge=0)
    same_as: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Spend what this scenario (file or name, same folder) spends",
    )


class Quotas(_Strict):
    """Split of the budget over admin units.

    ``proportional``: to the number of eligible households per unit (largest remainder).
    ``fixed``: ``shares`` (unit name or P-code -> share, summing to 1); unlisted units get 0.
    """

    level: AdminLevel
    mode: Literal["proportional", "fixed"] = "proportional"
    shares: dict[str, float] | None = None


class Scenario(_Strict):
    """A complete targeting scenario (see the module docstring for the YAML shape)."""

    name: str = Field(min_length=1)
    description: str = ""
    registry: str | None = None
    seed: int = Field(default=0, ge=0, lt=2**63)
    season: Season | None = None
    hazards: list[HazardLayerSpec] = Field(default_factory=list)
    zones: list[ZoneLayerSpec] = Field(default_factory=list)
    admin_units: Literal["recorded", "located"] = "recorded"
    eligibility: Eligibility
    priority: Priority = Field(default_factory=Priority)
    benefit: Benefit
    budget: Budget = Field(default_factory=Budget)
    quotas: Quotas | None = None

    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path | None:
        """Folder of the scenario file (relative paths resolve against it), if loaded from one."""
        return self._base_dir

    def hazard(self, name: str) -> HazardLayerSpec:
        """Return the hazard layer named ``name``."""
        for layer in self.hazards:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def severity_layer(self) -> str | None:
        """Return the layer the severity component uses: the named one, else the first."""
        if self.priority.severity_layer is not None:
            return self.priority.severity_layer
        return self.hazards[0].name if self.hazards else None

    def canonical_json(self) -> str:
        """Return the scenario as canonical JSON (sorted keys): what its sha256 is taken of."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def resolve_path(self, path: str) -> Path:
        """Resolve a file path from the scenario (:func:`resolve_scenario_path`)."""
        return resolve_scenario_path(path, self._base_dir)

    def with_updates(self, updates: Mapping[str, Any]) -> Scenario:
        """Return a validated copy with dotted-path ``updates`` (``eligibility.pmt_cutoff``...).

        A path segment that is an integer indexes a list.
        """
        data = self.model_dump(mode="json")
        for dotted, value in updates.items():
            _set_dotted(data, dotted, value)
        out = load_scenario(data)
        out._base_dir = self._base_dir
        return out


def resolve_scenario_path(path: str, base_dir: Path | None) -> Path:
    """Resolve a file path written in a scenario: the one rule of the CLI and the API.

    1. An absolute path (``~`` expanded) is used as it is.
    2. A relative path is looked up in ``base_dir``, the folder of the scenario file
       (``scenarios/`` for the shipped ones, the server's scenarios folder for the API).
    3. If it is not there, in the repository root, where ``data/`` lives, so that a shipped
       scenario names ``data/hazard/...`` wherever it is run from.
    4. If it is in neither, the path under ``base_dir`` is returned (the current folder when
       the scenario comes from no file), so that the error names where it was expected.

    ``demo:NAME`` layers never reach here (:func:`rahat.engine.pipeline.hazard_path`). The
    API lets only scenario files of the server's own scenarios folder read files (an inline
    scenario may not name server paths); it applies this rule when the run is created.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    if base_dir is not None and (base_dir / p).exists():
        return base_dir / p
    if (repo_root() / p).exists():
        return repo_root() / p
    return (base_dir or Path.cwd()) / p


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        key: Any = int(part) if part.isdigit() and isinstance(node, list) else part
        last = i == len(parts) - 1
        if last:
            node[key] = value
        else:
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = {}
            node = node[key]


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


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Return the valid field names of the model reached by following ``loc`` from Scenario."""
    model: type[BaseModel] = Scenario
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
            out += f".{part}" if out else str(part)
    return out or "(scenario)"


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = _path(loc)
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown field{hint} (valid here: {', '.join(valid)})"
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    value = error.get("input")
    shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
    return f"{where}: {error['msg']}{shown}"


def _suggest(value: str, options: Iterable[str]) -> str:
    opts = list(options)
    close = difflib.get_close_matches(value, opts, n=1, cutoff=0.6)
    if not close:
        lowered = {o.casefold(): o for o in opts}
        close = [
            lowered[m]
            for m in difflib.get_close_matches(value.casefold(), list(lowered), n=1, cutoff=0.6)
        ]
    return f"; did you mean '{close[0]}'?" if close else ""


def _raise(problems: list[str], source: str | None) -> None:
    if not problems:
        return
    head = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    body = "\n".join(f"  - {p}" for p in problems)
    raise ScenarioError(f"invalid scenario, {head}:\n{body}", source=source)


# --------------------------------------------------------------------------- cross-field checks


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
            f"{_suggest(value, classes.labels)} (classes: {', '.join(classes.labels)})"
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


def _cross_checks(s: Scenario) -> list[str]:
    from rahat.geo.errors import InputError
    from rahat.geo.hazards.kinds import HazardKind

    problems: list[str] = []
    layers: dict[str, HazardLayerSpec] = {}
    classes: dict[str, Any] = {}
    kinds = [k.value for k in HazardKind]
    for i, layer in enumerate(s.hazards):
        if layer.name in layers:
            problems.append(f"hazards[{i}].name: layer name '{layer.name}' is used twice")
        layers[layer.name] = layer
        if layer.kind not in kinds:
            problems.append(
                f"hazards[{i}].kind: unknown hazard kind '{layer.kind}'"
                f"{_suggest(layer.kind, kinds)} (kinds: {', '.join(kinds)})"
            )
            continue
        if layer.path.startswith("demo:"):
            from rahat.geo.demo_hazards import DEMO_HAZARDS

            name = layer.path[5:]
            if name not in DEMO_HAZARDS:
                problems.append(
                    f"hazards[{i}].path: unknown demo layer '{name}'"
                    f"{_suggest(name, DEMO_HAZARDS)} (demo layers: {', '.join(DEMO_HAZARDS)})"
                )
        try:
            classes[layer.name] = _classification(layer)
        except InputError as exc:
            problems.append(f"hazards[{i}].classes: {exc.detail}")
        if layer.crs is not None:
            from rahat.geo.hazards.crs import parse_crs

            try:
                parse_crs(layer.crs)
            except InputError as exc:
                problems.append(f"hazards[{i}].crs: {exc.detail}")

    def need_layer(where: str, name: str | None) -> HazardLayerSpec | None:
        if name is None:
            return None
        if name in layers:
            return layers[name]
        if not layers:
            problems.append(
                f"{where}: refers to hazard layer '{name}' but the hazard list is empty; "
                "add the layer under 'hazards'"
            )
        else:
            problems.append(
                f"{where}: no hazard layer named '{name}'{_suggest(name, layers)} "
                f"(layers: {', '.join(layers)})"
            )
        return None

    zone_layers = list(BUILTIN_ZONE_LAYERS)
    for i, zspec in enumerate(s.zones):
        if zspec.name in zone_layers:
            problems.append(
                f"zones[{i}].name: zone layer name '{zspec.name}' is used twice or is a "
                f"built-in layer ({', '.join(BUILTIN_ZONE_LAYERS)})"
            )
        zone_layers.append(zspec.name)
        if zspec.crs is not None:
            from rahat.geo.hazards.crs import parse_crs

            try:
                parse_crs(zspec.crs)
            except InputError as exc:
                problems.append(f"zones[{i}].crs: {exc.detail}")

    def check_zone_rule(where: str, zrule: ZoneRule) -> None:
        if zrule.layer not in zone_layers:
            problems.append(
                f"{where}.layer: no zone layer named '{zrule.layer}'"
                f"{_suggest(zrule.layer, zone_layers)} (zone layers: {', '.join(zone_layers)}; "
                "declare your own under 'zones')"
            )

    e = s.eligibility
    for i, zrule in enumerate(e.zone):
        check_zone_rule(f"eligibility.zone[{i}]", zrule)
    for i, rule in enumerate(e.hazard):
        where = f"eligibility.hazard[{i}]"
        hlayer = need_layer(f"{where}.layer", rule.layer)
        if rule.where is not None:
            check_zone_rule(f"{where}.where", rule.where)
        given = [rule.min_intensity, rule.max_intensity, rule.min_class]
        if all(v is None for v in given):
            problems.append(f"{where}: give min_intensity, max_intensity or min_class")
        if rule.min_class is not None and (
            rule.min_intensity is not None or rule.max_intensity is not None
        ):
            problems.append(f"{where}: give either an intensity bound or min_class, not both")
        if (
            rule.min_intensity is not None
            and rule.max_intensity is not None
            and rule.min_intensity > rule.max_intensity
        ):
            problems.append(
                f"{where}: min_intensity {rule.min_intensity} > max_intensity "
                f"{rule.max_intensity}; no household could pass"
            )
        if hlayer is not None and rule.min_class is not None and hlayer.name in classes:
            _check_class(
                f"{where}.min_class", rule.min_class, hlayer, classes[hlayer.name], problems
            )
    for i, rule_ in enumerate(e.livelihood):
        where = f"eligibility.livelihood[{i}]"
        llayer = need_layer(f"{where}.layer", rule_.layer)
        if (rule_.min_intensity is None) == (rule_.min_class is None):
            problems.append(f"{where}: give exactly one of min_intensity or min_class")
        if llayer is not None and rule_.min_class is not None and llayer.name in classes:
            _check_class(
                f"{where}.min_class", rule_.min_class, llayer, classes[llayer.name], problems
            )
        if rule_.seasons is not None and s.season is None:
            problems.append(
                f"{where}.seasons: the rule depends on the season but the scenario sets none; "
                "add 'season: kharif' or 'season: rabi'"
            )
        if llayer is not None and llayer.name in classes and e.hazard:
            implied = [
                _implies(rule_, h, classes[llayer.name]) if h.layer == rule_.layer else False
                for h in e.hazard
            ]
            if all(implied) if e.hazard_combine == "all" else any(implied):
                which = [f"eligibility.hazard[{j}]" for j, ok in enumerate(implied) if ok]
                problems.append(
                    f"{where}: changes nothing: every household it covers already passes "
                    f"{' and '.join(which) if e.hazard_combine == 'all' else which[0]} on "
                    f"layer '{rule_.layer}'; a livelihood rule must reach beyond the hazard "
                    "rules (a lower threshold, or another layer), or be removed"
                )
    if e.dwelling is not None and not e.dwelling:
        problems.append("eligibility.dwelling: empty list; no household could pass (omit it)")
    for i, programme in enumerate(e.exclude.programmes):
        if programme not in PROGRAMMES:
            problems.append(
                f"eligibility.exclude.programmes[{i}]: unknown programme '{programme}'"
                f"{_suggest(programme, PROGRAMMES)} (programmes: {', '.join(PROGRAMMES)})"
            )
    if not e.hazard and not e.livelihood and e.notified is None:
        problems.append(
            "eligibility: no hazard rule, livelihood rule or notified units; every registered "
            "household would qualify. Add 'hazard', 'livelihood' or 'notified'"
        )

    p = s.priority
    if p.severity_layer is not None:
        need_layer("priority.severity_layer", p.severity_layer)
    if p.weights.severity > 0 and not layers:
        problems.append("priority.weights.severity: needs a hazard layer; the hazard list is empty")
    if p.severity_by == "intensity" and p.severity_max is None:
        problems.append("priority.severity_max: required when severity_by is 'intensity'")

    b = s.benefit
    if b.kind == "fixed" and b.amount is None:
        problems.append("benefit.amount: required for a fixed transfer")
    if b.kind == "household_size":
        if not b.brackets:
            problems.append("benefit.brackets: required for kind 'household_size'")
        else:
            sizes = [br.max_size for br in b.brackets]
            if sizes[-1] is not None:
                problems.append("benefit.brackets: the last bracket must have no max_size")
            bounded = [x for x in sizes[:-1] if x is not None]
            if len(bounded) != len(sizes) - 1 or bounded != sorted(set(bounded)):
                problems.append("benefit.brackets: max_size must increase strictly")
    if b.kind == "hazard_class":
        blayer = need_layer("benefit.layer", b.layer)
        if b.layer is None:
            problems.append("benefit.layer: required for kind 'hazard_class'")
        if b.amount is None:
            problems.append("benefit.amount: required (the transfer for classes not in by_class)")
        if not b.by_class:
            problems.append("benefit.by_class: required for kind 'hazard_class'")
        elif blayer is not None and blayer.name in classes:
            for label, amount in b.by_class.items():
                _check_class(
                    f"benefit.by_class.{label}", label, blayer, classes[blayer.name], problems
                )
                if amount < 0:
                    problems.append(f"benefit.by_class.{label}: negative amount {amount}")

    q = s.quotas
    if q is not None:
        if q.mode == "fixed":
            if not q.shares:
                problems.append("quotas.shares: required when mode is 'fixed'")
            else:
                if any(v < 0 for v in q.shares.values()):
                    problems.append("quotas.shares: shares must not be negative")
                total = sum(q.shares.values())
                if abs(total - 1.0) > 1e-6:
                    problems.append(f"quotas.shares: shares sum to {total:g}, not 1")
        elif q.shares:
            problems.append("quotas.shares: only used with mode 'fixed'; remove it or set mode")
        if s.budget.total is None and s.budget.max_households is None and not s.budget.same_as:
            problems.append("quotas: need a budget (total or max_households) to split")
    if s.budget.same_as is not None and s.budget.total is not None:
        problems.append("budget.same_as: give either total or same_as, not both")
    return problems


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
        Listing every problem found (field path, what is wrong, closest valid field name).
    rahat.geo.errors.UnreadableFileError
        If the file cannot be read or parsed.
    """
    from rahat.geo.errors import UnreadableFileError

    where: str | None = None
    base: Path | None = None
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        path = Path(source)
        where, base = str(path), path.resolve().parent
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UnreadableFileError(
                f"cannot read scenario file: {exc.strerror or exc}", source=path
            ) from None
        import yaml

        try:
            data = yaml.safe_load(text)  # JSON is YAML too
        except yaml.YAMLError as exc:
            raise UnreadableFileError(f"not valid YAML/JSON: {exc}", source=path) from None
    if not isinstance(data, Mapping):
        raise ScenarioError("a scenario must be a mapping of fields", source=where)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        _raise([_describe(err) for err in exc.errors()], where)
        raise AssertionError("unreachable") from None
    _raise(_cross_checks(scenario), where)
    scenario._base_dir = base
    return scenario


# --------------------------------------------------------------------------- admin units


def known_admin_units() -> dict[str, set[str]]:
    """Return the names and P-codes of every real admin unit, per level.

    Read from :mod:`rahat.geo.boundaries`: provinces, the 156 districts (with Sindh P-codes), the
    Sindh COD-AB tehsils with P-codes and the national tehsil gazetteer.
    """
    from rahat.geo import boundaries

    districts = boundaries.districts()
    tehsils = boundaries.sindh_tehsils()
    gazetteer = boundaries.tehsil_names()
    provinces = set(boundaries.provinces()["province"])
    units = {
        "province": provinces,
        "district": set(districts["district"]) | set(districts["district_pcode"].dropna()),
        "tehsil": set(tehsils["tehsil"])
        | set(tehsils["tehsil_pcode"])
        | set(gazetteer["tehsil"].dropna()),
    }
    units["district"] |= set(tehsils["cod_district"])
    return units


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
                    f"{where}[{i}]: unknown {kind} '{name}'{_suggest(name, sorted(known))}"
                )

    notified = scenario.eligibility.notified
    if notified is not None:
        check("eligibility.notified.units", notified.level, notified.units)
    quotas = scenario.quotas
    if quotas is not None and quotas.shares:
        check("quotas.shares", quotas.level, list(quotas.shares))
    _raise(problems, None)
