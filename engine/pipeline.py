"""The end-to-end job: registry + scenario + hazard files -> caseload files.

``run_scenario`` reads and validates the registry, reads the scenario's hazard layers in their
native CRS, overlays them with the admin units and climate zones, evaluates the scenario and
writes the outputs. Each step reports progress through an optional callback, so the CLI can
draw a bar and the API can store it on the run.

:class:`ExposureCache` keeps overlays for what-if work: evaluating one more scenario on the
same registry and hazards costs no I/O and no join.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rahat.engine.exposure import Exposure
from rahat.engine.overlay import overlay, spatially_sorted
from rahat.engine.zones import ZoneLayer, default_zone_layers
from rahat.geo.errors import EmptyDataError
from rahat.geo.registry.model import Registry

if TYPE_CHECKING:
    from rahat.engine.targeting.caseload import Caseload
    from rahat.engine.targeting.scenario import Scenario
    from rahat.geo.hazards import HazardLayer

Progress = Callable[[str, float], None]

#: Prefix of scenario hazard paths that name a documented synthetic layer.
DEMO_PREFIX = "demo:"


def _silent(stage: str, fraction: float) -> None:
    """Progress callback that reports nowhere."""


@dataclass
class RunResult:
    """What :func:`run_scenario` produced.

    Attributes
    ----------
    caseload
        The evaluated caseload.
    outputs
        Written files by name (``caseload.parquet``, ``caseload.csv``, ``summary.csv``,
        ``map.png``, ``manifest.json``, ...).
    registry_rejected
        Rows of the registry file that failed validation (not in the caseload).
    """

    caseload: Caseload
    outputs: dict[str, Path]
    registry_rejected: int = 0

    @property
    def totals(self) -> dict[str, object]:
        """Headline figures of the caseload."""
        return dict(self.caseload.totals)


def hazard_path(scenario: Scenario, layer_name: str, overrides: Mapping[str, Path] | None) -> Path:
    """Return the file of a scenario hazard layer (an override, a demo layer, or its path)."""
    if overrides and layer_name in overrides:
        return Path(overrides[layer_name])
    spec = scenario.hazard(layer_name)
    if spec.path.startswith(DEMO_PREFIX):
        from rahat.geo.demo_hazards import resolve_demo_hazard

        return resolve_demo_hazard(spec.path.removeprefix(DEMO_PREFIX))
    return scenario.resolve_path(spec.path)


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
    """
    from rahat.geo.hazards import read_hazard

    layers = []
    for spec in scenario.hazards:
        layers.append(
            read_hazard(
                hazard_path(scenario, spec.name, hazard_paths),
                kind=spec.kind,
                name=spec.name,
                intensity_field=spec.intensity_field,
                registry_extent=registry_extent,
                classes=spec.classes,
            )
        )
    return layers


def load_registry(path: Path) -> tuple[Registry, int]:
    """Read, validate and spatially sort a registry file; return it and the rejected count."""
    from rahat.geo.registry.validate import read_registry

    report = read_registry(path)
    if report.n_valid == 0:
        raise EmptyDataError(
            "no valid household in the registry; run `rahat registry validate` to see why",
            source=path,
        )
    return spatially_sorted(report.registry), report.n_rejected


@dataclass
class ExposureCache:
    """Overlays by (registry, hazard files), for re-evaluating scenarios without re-joining."""

    zones: list[ZoneLayer] = field(default_factory=list)
    _entries: dict[tuple[int, tuple[tuple[str, str], ...]], Exposure] = field(default_factory=dict)

    def exposure(self, registry: Registry, hazards: list[HazardLayer]) -> Exposure:
        """Return the overlay of ``hazards`` on ``registry``, computing it once."""
        key = (id(registry), tuple((h.name, h.provenance.sha256) for h in hazards))
        if key not in self._entries:
            if not self.zones:
                self.zones = default_zone_layers()
            self._entries[key] = overlay(registry, hazards, self.zones)
        return self._entries[key]


def run_scenario(
    scenario: Scenario,
    *,
    out_dir: Path,
    registry_path: Path | None = None,
    registry: Registry | None = None,
    hazard_paths: Mapping[str, Path] | None = None,
    progress: Progress | None = None,
    cache: ExposureCache | None = None,
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
    out_dir
        Folder for the outputs; created if missing. Files appear atomically.
    hazard_paths
        Files to use instead of the scenario's hazard paths, by layer name.
    progress
        ``progress(stage, fraction)`` callback.
    cache
        Reuse overlays across calls (what-if work).

    Returns
    -------
    RunResult
    """
    from rahat.engine.targeting import evaluate, write_outputs

    report = progress or _silent
    rejected = 0
    if registry is None:
        if registry_path is None:
            raise TypeError("give registry_path or registry")
        report("reading the registry", 0.05)
        registry, rejected = load_registry(Path(registry_path))
    report("reading hazard layers", 0.25)
    hazards = load_hazards(scenario, hazard_paths=hazard_paths, registry_extent=registry.bounds())
    report("overlaying households with hazards and zones", 0.45)
    exposure = (cache or ExposureCache()).exposure(registry, hazards)
    report("evaluating the scenario", 0.7)
    caseload = evaluate(scenario, exposure)
    report("writing outputs", 0.85)
    outputs = write_outputs(caseload, Path(out_dir))
    report("done", 1.0)
    return RunResult(caseload=caseload, outputs=outputs, registry_rejected=rejected)
