"""The end-to-end job: registry + scenario + hazard files -> caseload files.

``run_scenario`` reads and validates the registry, reads the scenario's hazard layers in their
native CRS, overlays them with the admin units and climate zones, evaluates the scenario and
writes the outputs. Each step reports progress through an optional callback, so the CLI can
draw a bar and the API can store it on the run.

Nothing is dropped silently: registry rows that fail validation go to ``rejects.csv`` next to
the outputs (with every reason, written by the same code as ``rahat registry validate``), and
their count, the readers' warnings and the households whose recorded district differs from
their location are returned and recorded in the manifest.

The registry is put in a canonical order when it is read (by household id, then along a Hilbert
curve; open category sets sorted), so the outputs do not depend on the order of its rows.

:class:`ExposureCache` (:mod:`rahat.engine.exposure_cache`, named here too) keeps overlays
for what-if work: evaluating one more scenario on the same registry and hazards costs no I/O
and no join.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rahat.engine.exposure import Exposure
from rahat.engine.exposure_cache import ExposureCache as ExposureCache
from rahat.engine.exposure_cache import layer_sampling as layer_sampling
from rahat.engine.exposure_cache import load_zones as load_zones
from rahat.engine.phases import PhaseClock
from rahat.geo.demo_hazards import DEMO_PREFIX
from rahat.geo.errors import EmptyDataError
from rahat.geo.registry.model import Registry

if TYPE_CHECKING:
    from rahat.engine.targeting.caseload import Caseload
    from rahat.engine.targeting.gap_join import GapTable
    from rahat.engine.targeting.scenario import Scenario
    from rahat.geo.hazards import HazardLayer
    from rahat.geo.registry.snapshot import SnapshotInfo
    from rahat.geo.registry.synth import Progress
    from rahat.geo.registry.validate import LoadReport


def _silent(stage: str, fraction: float) -> None:
    """Progress callback that reports nowhere."""


#: File name of the rejected registry rows, next to a run's outputs.
REJECTS_FILE = "rejects.csv"


@dataclass(frozen=True)
class LoadedRegistry:
    """A registry read from a file or a snapshot, with what validation rejected.

    Attributes
    ----------
    registry
        The valid households, in canonical order (:func:`load_registry`).
    report
        The validation report (rejected rows with reasons, counts, ignored columns), when the
        registry was validated here.
    snapshot
        What the snapshot records (counts, reasons, its ``rejects.csv``), when the registry
        came from a snapshot (:mod:`rahat.geo.registry.snapshot`), validated at import.
    """

    registry: Registry
    report: LoadReport | None = None
    snapshot: SnapshotInfo | None = None

    @property
    def rejected(self) -> int:
        """Number of rows of the file that failed validation."""
        if self.snapshot is not None:
            return self.snapshot.rejected
        return self.report.n_rejected if self.report is not None else 0

    @property
    def reason_counts(self) -> dict[str, int]:
        """Rejected rows per reason (a row with two reasons counts under both)."""
        if self.snapshot is not None:
            return dict(self.snapshot.reason_counts)
        return dict(self.report.reason_counts) if self.report is not None else {}

    @property
    def warnings(self) -> list[str]:
        """Warnings about the file worth telling its sender (ignored columns)."""
        if self.snapshot is not None:
            ignored = self.snapshot.ignored_columns
        else:
            ignored = self.report.ignored_columns if self.report is not None else ()
        return [f"registry: ignored columns {', '.join(ignored)}"] if ignored else []

    def write_rejects(self, path: Path) -> Path:
        """Write every rejected row with its reasons as CSV, atomically (even if none).

        From a snapshot, the rejects file written at import is copied.
        """
        if self.report is not None:
            return self.report.write_rejects(path)
        import shutil

        from rahat.geo.files import atomic_write

        source = self.snapshot.rejects_path if self.snapshot is not None else None
        if source is not None and source.is_file():
            return atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
        return atomic_write(path, lambda tmp: tmp.write_text("row,household_id,reason\n"))


@dataclass
class RunResult:
    """What :func:`run_scenario` produced.

    Attributes
    ----------
    caseload
        The evaluated caseload.
    outputs
        Written files by name (``caseload.parquet``, ``caseload.csv``, ``summary.csv``,
        ``map.png``, ``manifest.json``, ``rejects``, ...).
    registry_rejected
        Rows of the registry file that failed validation (not in the caseload); listed with
        their reasons in ``outputs["rejects"]``.
    warnings
        Warnings of the hazard and registry readers (also in the manifest).
    location_mismatches
        Households whose recorded district differs from the district at their location.
    rejected_reasons
        Rejected rows per reason (a row with two reasons counts under both).
    phases
        Seconds spent per phase (``registry``, ``hazards``, ``overlay``, ``evaluate``,
        ``write``; :mod:`rahat.engine.phases`).
    """

    caseload: Caseload
    outputs: dict[str, Path]
    registry_rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    location_mismatches: int | None = None
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, object]:
        """Headline figures of the caseload, with the rejected rows and location mismatches."""
        return {
            **self.caseload.totals,
            "registry_rejected": self.registry_rejected,
            "location_mismatches": self.location_mismatches,
        }


def hazard_path(scenario: Scenario, layer_name: str, overrides: Mapping[str, Path] | None) -> Path:
    """Return the file of a scenario hazard layer (an override, a demo layer, or its path)."""
    if overrides and layer_name in overrides:
        return Path(overrides[layer_name])
    spec = scenario.hazard(layer_name)
    if spec.path.startswith(DEMO_PREFIX):
        from rahat.geo.demo_hazards import resolve_demo_hazard

        return resolve_demo_hazard(spec.path.removeprefix(DEMO_PREFIX))
    return scenario.resolve_path(spec.path)


def hazard_warnings(layers: list[HazardLayer]) -> list[str]:
    """Return the readers' warnings of ``layers`` as ``<layer>: <warning>`` lines."""
    return [f"{layer.name}: {warning}" for layer in layers for warning in layer.warnings]


def location_mismatches(exposure: Exposure) -> int | None:
    """Count households whose recorded district is not the district at their location.

    ``None`` when the exposure has no district zone layer or the registry no district column.
    """
    if "district" not in exposure.zones or "district" not in exposure.registry.frame.columns:
        return None
    from rahat.engine.overlay import count_located_elsewhere

    return count_located_elsewhere(exposure)


def load_hazards(
    scenario: Scenario,
    *,
    hazard_paths: Mapping[str, Path] | None = None,
    registry_extent: tuple[float, float, float, float] | None = None,
) -> list[HazardLayer]:
    """Read and validate every hazard layer a scenario names.

    Parameters
    ----------
    scenario
        The scenario.
    hazard_paths
        Files to use instead of the scenario's paths, by layer name (e.g. API uploads).
    registry_extent
        Lon/lat bounds of the registry; a layer that does not overlap it is refused.

    A layer's ``time`` reduces its time axis; on a file without one it is ignored with a
    warning on the layer (as ``radius_m`` on a vector layer, :func:`sampling_warnings`).
    """
    from rahat.geo.hazards import read_hazard

    layers = []
    for spec in scenario.hazards:
        layer = read_hazard(
            hazard_path(scenario, spec.name, hazard_paths),
            kind=spec.kind,
            name=spec.name,
            intensity_field=spec.intensity_field,
            registry_extent=registry_extent,
            classes=spec.classes,
            crs=spec.crs,
            layer=spec.layer,
            time=spec.time.selection() if spec.time is not None else None,
        )
        if spec.time is not None and layer.time_applied is None:
            note = f"time (reduce {spec.time.reduce}) ignored; the file has no time axis"
            layer = layer.replace(warnings=(*layer.warnings, note))
        layers.append(layer)
    return layers


def hazard_reading(layers: list[HazardLayer]) -> dict[str, dict[str, object]]:
    """Return, by layer name, how each layer was read: its time reduction and warnings.

    ``time`` (:meth:`~rahat.geo.hazards.time.TimeApplied.as_dict`, with the values'
    ``units``) only for a layer with a time axis; ``warnings`` only when there are some.
    """
    out: dict[str, dict[str, object]] = {}
    for layer in layers:
        entry: dict[str, object] = {}
        if layer.time_applied is not None:
            entry["time"] = {**layer.time_applied.as_dict(), "units": layer.units}
        if layer.warnings:
            entry["warnings"] = list(layer.warnings)
        if entry:
            out[layer.name] = entry
    return out


def sampling_warnings(scenario: Scenario, layers: list[HazardLayer]) -> list[str]:
    """Warn about a ``radius_m`` on a vector layer (footprints are sampled by polygon)."""
    by_name = {layer.name: layer for layer in layers}
    return [
        f"{spec.name}: radius_m {spec.radius_m:g} ignored; a vector footprint is sampled by "
        "the polygon each household lies in"
        for spec in scenario.hazards
        if spec.radius_m > 0 and spec.name in by_name and by_name[spec.name].grid is None
    ]


def canonical_order(registry: Registry) -> Registry:
    """Return ``registry`` independent of its row order: by id, then along a Hilbert curve.

    Open category sets (names, P-codes) are sorted, so category codes, and hence quota units
    and the Parquet dictionaries, do not depend on the order in which names first appear. The
    same order as a registry snapshot's (:func:`rahat.geo.registry.order.canonical_order`).
    """
    from rahat.geo.registry.order import canonical_order as ordered

    return ordered(registry)


def load_registry(
    path: Path,
    *,
    rejects_path: Path | None = None,
    snapshots: bool = False,
    notify: Callable[[str], None] | None = None,
) -> LoadedRegistry:
    """Read, validate and canonically order a registry file, or open a registry snapshot.

    Parameters
    ----------
    path
        Registry file (GeoParquet, Parquet, Feather or CSV), or a snapshot folder (or its
        ``snapshot.json``), which is memory-mapped as it is: validated and ordered at import
        (:mod:`rahat.geo.registry.snapshot`).
    rejects_path
        Where to write the rejected rows with their reasons (CSV, atomically, even when
        empty); ``None`` writes nothing (see :meth:`LoadedRegistry.write_rejects`). From a
        snapshot, the rejects file written at import is copied.
    snapshots
        Import a plain registry file into a snapshot in the cache first (once; later calls
        reuse it), see :func:`rahat.geo.registry.snapshot_cache.open_cached`.
    notify
        Told in one line when a file is imported into the cache.

    Raises
    ------
    EmptyDataError
        If no row is valid (the rejects file is written first).
    SnapshotError
        If a snapshot fails its checks, or the cache cannot be written.
    """
    from rahat.geo.registry.snapshot import is_snapshot, load_snapshot
    from rahat.geo.registry.validate import read_registry

    if is_snapshot(path) or snapshots:
        if is_snapshot(path):
            registry, info = load_snapshot(path)
        else:
            from rahat.geo.registry.snapshot_cache import open_cached

            registry, info = open_cached(path, notify=notify, rejects_path=rejects_path)
        loaded = LoadedRegistry(registry, snapshot=info)
        if rejects_path is not None:
            loaded.write_rejects(rejects_path)
        return loaded
    report = read_registry(path, rejects_path=rejects_path)
    if report.n_valid == 0:
        raise EmptyDataError(
            "no valid household in the registry; run `rahat registry validate` to see why",
            source=path,
        )
    return LoadedRegistry(canonical_order(report.registry), report)


def resolve_budget(
    scenario: Scenario,
    registry: Registry,
    *,
    hazard_paths: Mapping[str, Path] | None = None,
    cache: ExposureCache | None = None,
    folder: Path | None = None,
) -> tuple[Scenario, list[tuple[str, int]]]:
    """Return ``scenario`` with ``budget.same_as`` replaced by that scenario's spend.

    The named scenario is evaluated on ``registry`` with the same hazard overrides, through
    ``cache`` (an overlay already computed for the same files is reused). See
    :func:`rahat.engine.targeting.budget.resolve_same_as` (chain, cycles, unknown names).
    """
    from rahat.engine.targeting import evaluate
    from rahat.engine.targeting.budget import resolve_same_as

    shared = cache or ExposureCache()

    def spend(other: Scenario) -> int:
        layers = load_hazards(other, hazard_paths=hazard_paths, registry_extent=registry.bounds())
        return int(evaluate(other, shared.exposure(registry, layers, other)).totals["amount"])

    return resolve_same_as(scenario, spend, folder=folder)


def run_scenario(
    scenario: Scenario,
    *,
    out_dir: Path,
    registry_path: Path | None = None,
    registry: Registry | LoadedRegistry | None = None,
    hazard_paths: Mapping[str, Path] | None = None,
    progress: Progress | None = None,
    cache: ExposureCache | None = None,
    scenarios_dir: Path | None = None,
    formats: Iterable[str] | None = None,
    gap: GapTable | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run a scenario end to end and write its outputs.

    Parameters
    ----------
    scenario
        A validated scenario.
    registry_path
        Registry file (GeoParquet, Parquet, Feather or CSV), read and validated here.
    registry
        An already loaded registry instead (see :func:`load_registry`); give one of the two.
        Given as a :class:`LoadedRegistry`, its rejected rows are written and counted as if
        read here.
    out_dir
        Folder for the outputs; created if missing. Files appear atomically.
    hazard_paths
        Files to use instead of the scenario's hazard paths, by layer name.
    progress
        ``progress(stage, fraction)`` callback.
    cache
        Reuse overlays across calls (what-if work).
    scenarios_dir
        Where ``budget.same_as`` looks when the scenario comes from no file (default: the
        scenarios folder); the named scenario is evaluated first on the same registry, hazard
        overrides and cache, and its spend becomes the budget (:func:`resolve_budget`).
    formats
        Outputs to write (keys of :data:`rahat.engine.targeting.outputs.FILES`, e.g. from
        :func:`~rahat.engine.targeting.outputs.parse_formats`); ``None`` for all of them.
    gap
        The coverage-gap table (:func:`rahat.engine.targeting.gap_join.read_gap`), joined to
        the summary and read by ``budget.reserve_for_unregistered``.
    manifest_extra
        Blocks added to the manifest (a trigger's state, for a run it started).

    Returns
    -------
    RunResult
        With ``outputs["rejects"]`` (``rejects.csv``) when the registry came from a file.
    """
    from rahat.engine.targeting import evaluate, write_outputs

    clock = PhaseClock(progress or _silent)
    report = clock
    out = Path(out_dir)
    loaded: LoadedRegistry | None = None
    if registry is None:
        if registry_path is None:
            raise TypeError("give registry_path or registry")
        report("reading the registry", 0.05)
        loaded = load_registry(Path(registry_path))
    elif isinstance(registry, LoadedRegistry):
        loaded = registry
    households = loaded.registry if loaded is not None else registry
    assert isinstance(households, Registry)
    report("reading hazard layers", 0.25)
    hazards = load_hazards(scenario, hazard_paths=hazard_paths, registry_extent=households.bounds())
    warnings = [
        *(loaded.warnings if loaded is not None else []),
        *hazard_warnings(hazards),
        *sampling_warnings(scenario, hazards),
    ]
    report("overlaying households with hazards and zones", 0.45)
    cache = cache or ExposureCache()
    exposure = cache.exposure(households, hazards, scenario)
    mismatches = location_mismatches(exposure)
    chain: list[tuple[str, int]] = []
    if scenario.budget.same_as is not None:
        report(f"evaluating {scenario.budget.same_as} for the budget", 0.6)
        scenario, chain = resolve_budget(
            scenario, households, hazard_paths=hazard_paths, cache=cache, folder=scenarios_dir
        )
    report("evaluating the scenario", 0.7)
    caseload = evaluate(scenario, exposure, gap, ranking=cache.ranking(exposure))
    if chain:
        caseload.totals["budget_same_as"] = chain[0][0]
    caseload.registry_rejected = loaded.rejected if loaded is not None else None
    warnings += list(caseload.warnings)  # the rules' own (fallbacks, rules adding nobody)
    caseload.warnings = tuple(warnings)
    caseload.location_mismatches = mismatches
    caseload.hazard_reading = hazard_reading(hazards)
    caseload.report.update(manifest_extra or {})
    report("writing outputs", 0.85)
    with tempfile.TemporaryDirectory(prefix="rahat-rejects-") as scratch:
        # written with the outputs, so a run that fails before leaves no rejects.csv behind
        extra = {"rejects": loaded.write_rejects(Path(scratch) / REJECTS_FILE)} if loaded else {}
        outputs = write_outputs(
            caseload, out, extra=extra, **({} if formats is None else {"formats": formats})
        )
    report("done", 1.0)
    return RunResult(
        caseload=caseload,
        outputs=outputs,
        registry_rejected=loaded.rejected if loaded is not None else 0,
        warnings=warnings,
        location_mismatches=mismatches,
        rejected_reasons=loaded.reason_counts if loaded is not None else {},
        phases=clock.phases(),
    )
