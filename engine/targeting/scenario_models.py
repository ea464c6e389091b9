"""The targeting-scenario schema: strict pydantic models with bounds on every value.

Every model forbids unknown fields and non-finite floats (NaN, inf). Every free string, list
and mapping has a maximum length and every number a range (the ``MAX_*`` constants below), so
a hostile scenario is refused by validation, in microseconds, before anything is computed or
drawn. Money and counts are bounded by :mod:`rahat.engine.targeting.money` so that no sum of
transfers can overflow int64. :mod:`rahat.engine.targeting.scenario` documents the YAML shape
and loads scenarios; the cross-field checks are in
:mod:`rahat.engine.targeting.scenario_checks`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from rahat.engine.targeting.money import MAX_AMOUNT, MAX_BUDGET, MAX_HOUSEHOLDS
from rahat.engine.targeting.scenario_files import resolve_scenario_path
from rahat.geo.registry.schema import Dwelling, Livelihood

if TYPE_CHECKING:
    from rahat.geo.hazards.time import TimeSelection

#: Longest scenario name, layer name, field name, unit name, class label or kind.
MAX_NAME_LENGTH = 200

#: Longest scenario description.
MAX_DESCRIPTION_LENGTH = 2_000

#: Longest file path.
MAX_PATH_LENGTH = 1_024

#: Longest CRS (``EPSG:xxxx`` or WKT, which runs to a few KB).
MAX_CRS_LENGTH = 8_192

#: Most entries of a list of admin units (``notified.units``) or of quota shares.
MAX_UNITS = 10_000

#: Most entries of every other list or mapping (layers, rules, brackets, classes, lists).
MAX_ITEMS = 100

#: Largest absolute hazard intensity a rule may name.
MAX_INTENSITY = 1e12

#: Largest priority weight (weights are normalised by their sum).
MAX_WEIGHT = 1e6

#: Largest household size a benefit bracket may name.
MAX_HOUSEHOLD_SIZE = 10_000

Name = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]
FilePath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_LENGTH)]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
Intensity = Annotated[float, Field(ge=-MAX_INTENSITY, le=MAX_INTENSITY)]
ClassRef = Annotated[str, Field(max_length=MAX_NAME_LENGTH)] | Annotated[int, Field(ge=0, le=1000)]
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT)]


def _share_or_flag(value: Any) -> Any:
    """``true``/``false`` (also as text) as the share 1 or 0; anything else unchanged."""
    if isinstance(value, str) and value.strip().lower() in _FLAG_TEXTS:
        return _FLAG_TEXTS[value.strip().lower()]
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return value


_FLAG_TEXTS = {"true": 1.0, "yes": 1.0, "on": 1.0, "false": 0.0, "no": 0.0, "off": 0.0}

#: A share from 0 to 1; ``true`` stands for 1 and ``false`` for 0.
Share = Annotated[float, BeforeValidator(_share_or_flag), Field(ge=0, le=1)]

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
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Optional(_Strict):
    """A model with options added later: those at ``None`` are left out when dumped.

    A scenario without them therefore dumps (and hashes, :meth:`Scenario.canonical_json`)
    exactly as before they existed.
    """

    _OPTIONAL: tuple[str, ...] = ()

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self._OPTIONAL:
            if getattr(self, name) is None:
                data.pop(name, None)
        return data


#: Longest accumulation window, in days.
MAX_ACCUMULATE_DAYS = 3_660


def _iso_text(value: Any) -> Any:
    """A YAML date or datetime as ISO 8601 text; anything else unchanged."""
    return value.isoformat() if isinstance(value, date) else value


#: A time as written (ISO 8601; YAML dates become text), read by
#: :func:`rahat.geo.hazards.time.to_datetime` (a time without a zone is UTC).
TimeText = Annotated[str, BeforeValidator(_iso_text), Field(min_length=1, max_length=64)]


class HazardTime(_Optional):
    """How a layer's time axis becomes one value per cell (:mod:`rahat.geo.hazards.time`).

    ``reduce``: ``max`` over ``start`` .. ``end`` (the whole axis by default); ``at``: the step
    nearest to ``at``; ``duration``: the steps at least ``threshold`` within ``start`` ..
    ``end``; ``accumulate``: the sum of the ``days`` daily steps ending at ``end`` (default
    the last step). :func:`rahat.engine.targeting.scenario_checks.cross_checks` says which
    options each needs and takes.
    """

    _OPTIONAL = ("start", "end", "at", "threshold", "days")

    reduce: Literal["max", "at", "duration", "accumulate"] = "max"
    start: TimeText | None = None
    end: TimeText | None = None
    at: TimeText | None = None
    threshold: Intensity | None = None
    days: int | None = Field(default=None, ge=1, le=MAX_ACCUMULATE_DAYS)

    def selection(self) -> TimeSelection:
        """Return the :class:`~rahat.geo.hazards.time.TimeSelection` the reader applies.

        Raises
        ------
        ValueError
            If a time cannot be read (the cross checks catch it first).
        """
        from rahat.geo.hazards.time import TimeSelection

        if self.reduce == "at":
            return TimeSelection.at_time(self.at)
        if self.reduce == "duration":
            assert self.threshold is not None
            return TimeSelection.duration_above(self.threshold, self.start, self.end)
        if self.reduce == "accumulate":
            assert self.days is not None
            return TimeSelection.accumulated(self.days, self.end)
        return TimeSelection.max_over(self.start, self.end)


class HazardLayerSpec(_Optional):
    """One hazard layer the scenario reads.

    ``path`` is absolute, relative (see :func:`resolve_scenario_path`: the scenario file's
    folder, then the repository root), or ``demo:NAME`` for a documented synthetic layer
    (:mod:`rahat.geo.demo_hazards`). ``layer`` names the layer of a multi-layer vector file
    (a TopoJSON object, a GeoPackage table); ``crs`` is the CRS of a file that states none
    (TopoJSON never does), as ``EPSG:xxxx`` or WKT. Both go to
    :func:`rahat.geo.hazards.read_hazard` unchanged. ``time`` reduces the time axis of a
    NetCDF layer (:class:`HazardTime`); left out, the maximum over all steps is used.
    """

    _OPTIONAL = ("time",)

    name: str = Field(
        pattern=_NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description="Layer name used by the rules",
    )
    path: FilePath
    kind: Name = Field(description="A rahat.geo.hazards.HazardKind value, e.g. flood_depth")
    intensity_field: Name | None = None
    layer: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="Layer of a multi-layer vector file",
    )
    crs: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CRS_LENGTH,
        description="CRS of a file that has none (EPSG:xxxx, WKT)",
    )
    units: Name | None = None
    classes: dict[Name, Any] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description="Override of the kind's classes (labels, thresholds, ...)",
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
    time: HazardTime | None = Field(
        default=None, description="How a time axis becomes one value per cell (NetCDF)"
    )


class ZoneLayerSpec(_Strict):
    """A user polygon zone layer (livelihood zones, ...) households are assigned to.

    ``path`` resolves like a hazard path; ``field`` is the attribute holding each zone's name;
    ``layer`` and ``crs`` as for hazard layers. Zone rules refer to it by ``name``.
    """

    name: str = Field(
        pattern=_NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description="Zone layer name used by the rules",
    )
    path: FilePath
    field: str = Field(
        min_length=1, max_length=MAX_NAME_LENGTH, description="Attribute holding each zone's name"
    )
    layer: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    crs: str | None = Field(default=None, min_length=1, max_length=MAX_CRS_LENGTH)


class ZoneRule(_Strict):
    """Households located in one of the zones ``in`` of zone layer ``layer``.

    ``layer``: ``climate`` (Köppen codes such as ``BWh``), ``province``, ``district``,
    ``tehsil`` (the located unit) or a scenario ``zones`` layer. Zone names match ignoring case.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    layer: Name
    in_: list[Name] = Field(alias="in", min_length=1, max_length=MAX_UNITS)


class HazardRule(_Strict):
    """Intensity at least (or at most) a value, or class at least a level, on one layer."""

    layer: Name
    min_intensity: Intensity | None = None
    max_intensity: Intensity | None = None
    min_class: ClassRef | None = None
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
    units: list[Name] = Field(min_length=1, max_length=MAX_UNITS)


class LivelihoodRule(_Strict):
    """Households with one of ``livelihoods`` qualify as affected when the hazard condition holds.

    ``seasons``: the rule applies only when the scenario's ``season`` is one of them (``None``:
    every season).
    """

    livelihoods: list[Livelihood] = Field(min_length=1, max_length=MAX_ITEMS)
    layer: Name
    min_intensity: Intensity | None = None
    min_class: ClassRef | None = None
    seasons: list[Season] | None = Field(default=None, max_length=MAX_ITEMS)


class Exclusions(_Strict):
    """Households to leave out: already assisted (CSV lists of ids) or enrolled in programmes."""

    assisted_lists: list[FilePath] = Field(default_factory=list, max_length=MAX_ITEMS)
    programmes: list[Name] = Field(default_factory=list, max_length=MAX_ITEMS)


class Eligibility(_Strict):
    """Eligibility rules; a household is eligible when it passes all of them (see rules.py)."""

    pmt_cutoff: float | None = Field(default=None, ge=0, le=100)
    area_relative: AreaRelativeRule | None = None
    hazard: list[HazardRule] = Field(default_factory=list, max_length=MAX_ITEMS)
    hazard_combine: Literal["any", "all"] = "any"
    notified: NotifiedUnits | None = None
    livelihood: list[LivelihoodRule] = Field(default_factory=list, max_length=MAX_ITEMS)
    zone: list[ZoneRule] = Field(default_factory=list, max_length=MAX_ITEMS)
    dwelling: list[Dwelling] | None = Field(default=None, max_length=MAX_ITEMS)
    exclude: Exclusions = Field(default_factory=Exclusions)


class PriorityWeights(_Strict):
    """Weights of the priority components (non-negative; normalised by their sum)."""

    severity: Weight = 0.0
    poverty: Weight = 0.0
    children_under5: Weight = 0.0
    elderly: Weight = 0.0
    disabled: Weight = 0.0
    female_headed: Weight = 0.0
    kacha: Weight = 0.0
    livelihood_loss: Weight = 0.0


class Priority(_Strict):
    """Need-based priority score (priority.py documents every component)."""

    weights: PriorityWeights = Field(default_factory=PriorityWeights)
    severity_layer: Name | None = None
    severity_by: Literal["class", "intensity"] = "class"
    severity_max: float | None = Field(default=None, gt=0, le=MAX_INTENSITY)
    loss_livelihoods: list[Livelihood] = Field(
        default_factory=lambda: list(DEFAULT_LOSS_LIVELIHOODS), max_length=MAX_ITEMS
    )


class SizeBracket(_Strict):
    """Transfer for households of at most ``max_size`` members (``None``: any larger size)."""

    max_size: int | None = Field(default=None, ge=1, le=MAX_HOUSEHOLD_SIZE)
    amount: Amount


class Benefit(_Strict):
    """Transfer per household, in rupees.

    ``fixed``: ``amount``. ``household_size``: the first of ``brackets`` whose ``max_size`` is at
    least the household size. ``hazard_class``: ``by_class[label]`` of the household's class on
    ``layer``, ``amount`` for classes not listed.
    """

    kind: Literal["fixed", "household_size", "hazard_class"] = "fixed"
    amount: Amount | None = None
    brackets: list[SizeBracket] | None = Field(default=None, max_length=MAX_ITEMS)
    layer: Name | None = None
    by_class: dict[Name, Amount] | None = Field(default=None, max_length=MAX_ITEMS)


class Budget(_Optional):
    """Total envelope in rupees and/or a maximum number of households (``None``: no limit).

    ``same_as`` instead of ``total``: the envelope is what another scenario spends on the same
    registry and hazard files, so "the same money" holds on any registry. It names a scenario
    file of the same folder (``bisp_2022_as_done``, with or without ``.yaml``/``.yml``/
    ``.json``) or the ``name`` of one; for a scenario that comes from no file (the API's inline
    scenarios) the scenarios folder (``RAHAT_SCENARIOS_DIR``). The named scenario is evaluated
    first in the same run, on the same overlay; its own ``same_as`` is followed in turn and a
    cycle is an error (:func:`rahat.engine.targeting.budget.resolve_same_as`).

    ``reserve_for_unregistered`` (``true`` or a share from 0 to 1) holds back, before
    selection, the transfer for that share of the estimated unregistered bottom-40 %
    households of the footprint (read from ``rahat run --gap``; capped at the budget):
    :mod:`rahat.engine.targeting.gap_join`.
    """

    _OPTIONAL = ("reserve_for_unregistered",)

    # Bounded so that money never overflows int64 (rahat.engine.targeting.money).
    total: int | None = Field(default=None, ge=0, le=MAX_BUDGET)
    max_households: int | None = Field(default=None, ge=0, le=MAX_HOUSEHOLDS)
    same_as: str | None = Field(
        default=None,
        max_length=MAX_NAME_LENGTH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Spend what this scenario (file or name, same folder) spends",
    )
    reserve_for_unregistered: Share | None = Field(
        default=None,
        description="Hold back the transfer for the estimated unregistered bottom-40% "
        "households of the footprint (true = 1, or the share of them to reserve for); "
        "needs the coverage-gap table (rahat run --gap)",
    )

    def reserve_share(self) -> float:
        """The share of the unregistered households reserved for (0: no reserve)."""
        return float(self.reserve_for_unregistered or 0.0)


class Quotas(_Strict):
    """Split of the budget over admin units.

    ``proportional``: to the number of eligible households per unit (largest remainder).
    ``fixed``: ``shares`` (unit name or P-code -> share, summing to 1); unlisted units get 0.
    """

    level: AdminLevel
    mode: Literal["proportional", "fixed"] = "proportional"
    shares: dict[Name, float] | None = Field(default=None, max_length=MAX_UNITS)


class StaleRecordsOption(_Strict):
    """What to do with registry records not updated for more than ``older_than_years``.

    Age is counted from ``last_updated`` to the registry's latest ``last_updated``
    (:mod:`rahat.engine.targeting.stale`, the rule of the coverage-gap table). ``flag``: the
    household's reasons say so; ``down_weight``: its priority score is multiplied by
    ``weight``; ``exclude``: it is not eligible. Every action adds the ``stale_record`` column
    and counts stale records in the footprint and among the selected.
    """

    older_than_years: float = Field(default=5.0, gt=0, le=100)
    action: Literal["flag", "down_weight", "exclude"] = "flag"
    weight: float | None = Field(
        default=None, ge=0, le=1, description="Priority multiplier for action down_weight"
    )


class Scenario(_Optional):
    """A complete targeting scenario (see the module docstring for the YAML shape)."""

    _OPTIONAL = ("stale_records",)

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)
    registry: Name | None = None
    seed: int = Field(default=0, ge=0, lt=2**63)
    season: Season | None = None
    hazards: list[HazardLayerSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    zones: list[ZoneLayerSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    admin_units: Literal["recorded", "located"] = "recorded"
    eligibility: Eligibility
    priority: Priority = Field(default_factory=Priority)
    benefit: Benefit
    budget: Budget = Field(default_factory=Budget)
    quotas: Quotas | None = None
    stale_records: StaleRecordsOption | None = None

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
        from rahat.engine.targeting.scenario import load_scenario

        out = load_scenario(data)
        out._base_dir = self._base_dir
        return out


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
