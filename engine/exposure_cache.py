"""Overlays kept for what-if work: one join per registry, hazard files, sampling and zones.

:class:`ExposureCache` gives the overlay of a scenario's hazard layers (and zone layers) on a
registry, computing it once: in this process, through the exposure store for a snapshot
registry (:mod:`rahat.engine.exposure_store`), or on the workers of a Dask cluster
(:mod:`rahat.engine.distributed`), where the partitions it leaves also rank the households of
each evaluation (:meth:`ExposureCache.ranking`). :func:`layer_sampling` says how each hazard
layer is sampled (the scenario's radius and the households' GPS accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.engine.distributed.parts import WorkerParts
from rahat.engine.exposure import Exposure
from rahat.engine.overlay import overlay
from rahat.engine.zones import ZoneLayer, default_zone_layers, read_zone_layer
from rahat.geo.registry.model import Registry

if TYPE_CHECKING:
    from rahat.engine.overlay import Radius, Reducer
    from rahat.engine.targeting.scenario import Scenario
    from rahat.engine.targeting.scored import Ranking
    from rahat.geo.hazards import HazardLayer


#: Registry column with each household's GPS accuracy in metres (optional).
ACCURACY_COLUMN = "location_accuracy_m"


def layer_sampling(scenario: Scenario, registry: Registry) -> dict[str, tuple[Radius, Reducer]]:
    """Return how each of the scenario's hazard layers is sampled: ``(radius_m, reducer)``.

    The radius is the layer's ``radius_m``; when the registry has a ``location_accuracy_m``
    column it is, per household, the larger of the two (an empty accuracy counts as 0), capped
    at :data:`~rahat.engine.targeting.scenario.MAX_RADIUS_M`. Layers with radius 0 everywhere
    are sampled at the cell each household lies in. Vector layers ignore the radius.
    """
    from rahat.engine.targeting.scenario import MAX_RADIUS_M

    accuracy: np.ndarray | None = None
    if ACCURACY_COLUMN in registry.frame.columns:
        values = registry.array(ACCURACY_COLUMN).astype(np.float64)
        accuracy = np.clip(np.nan_to_num(values, nan=0.0), 0.0, MAX_RADIUS_M)
        if not (accuracy > 0).any():
            accuracy = None
    out: dict[str, tuple[Radius, Reducer]] = {}
    for spec in scenario.hazards:
        radius: Radius = float(spec.radius_m)
        if accuracy is not None:
            radius = np.maximum(accuracy, spec.radius_m)
        out[spec.name] = (radius, spec.reducer)
    return out


def _sampling_key(sampling: Mapping[str, tuple[Radius, Reducer]]) -> tuple[object, ...]:
    import hashlib

    key: list[object] = []
    for name in sorted(sampling):
        radius, reducer = sampling[name]
        if isinstance(radius, np.ndarray):
            digest = hashlib.sha256(np.ascontiguousarray(radius).tobytes()).hexdigest()
            key.append((name, digest, reducer))
        else:
            key.append((name, radius, reducer))
    return tuple(key)


def load_zones(scenario: Scenario) -> list[ZoneLayer]:
    """Read the scenario's user zone layers (``zones``), paths resolved like hazard paths."""
    return [
        read_zone_layer(
            scenario.resolve_path(spec.path), spec.name, spec.field, layer=spec.layer, crs=spec.crs
        )
        for spec in scenario.zones
    ]


@dataclass
class ExposureCache:
    """Overlays by registry, hazard files, sampling and zone layers, for what-if work.

    Re-evaluating scenarios on the same inputs costs no I/O and no join.
    ``zones`` are the default zone layers (admin units, climate); a scenario's own ``zones``
    are added to them, and its per-layer ``radius_m``/``reducer`` (with the registry's GPS
    accuracy, :func:`layer_sampling`) decide how hazards are sampled.

    A registry memory-mapped from a snapshot (``registry.snapshot_sha256``) with the default
    zone layers also goes through the exposure store (:mod:`rahat.engine.exposure_store`):
    an overlay computed once, by any process, is memory-mapped by later runs, API jobs and
    what-ifs. ``store=False``, or zone layers given here, keep overlays in this process only.
    ``client`` (a ``distributed.Client``): overlays computed on its workers, equal to these,
    each partition's part kept on its worker for :meth:`ranking`.
    """

    zones: list[ZoneLayer] = field(default_factory=list)
    store: bool = True
    client: Any = None
    _entries: dict[tuple[object, ...], Exposure] = field(default_factory=dict)
    _parts: dict[int, WorkerParts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._default_zones = not self.zones

    def exposure(
        self, registry: Registry, hazards: list[HazardLayer], scenario: Scenario | None = None
    ) -> Exposure:
        """Return the overlay of ``hazards`` (and ``scenario``'s zones) on ``registry``, once.

        Without ``scenario`` every layer is sampled at the cell each household lies in and
        only the default zone layers are assigned.
        """
        sampling = layer_sampling(scenario, registry) if scenario is not None else {}
        hazard_key = tuple((h.name, h.provenance.sha256, h.time_applied) for h in hazards)
        sampled = _sampling_key({h.name: sampling[h.name] for h in hazards if h.name in sampling})
        if self.store and self._default_zones and registry.snapshot_sha256 is not None:
            return self._stored(registry, hazards, scenario, sampling, sampled)
        extra = load_zones(scenario) if scenario is not None else []
        # zones by identity: read_zone_layer gives one object per file version
        key = (id(registry), hazard_key, sampled, tuple(extra))
        if key not in self._entries:
            zone_layers = [*self._zone_layers(), *extra]
            self._entries[key] = self._overlay(registry, hazards, zone_layers, sampling)
        return self._entries[key]

    def _overlay(self, registry: Registry, hazards: Any, zones: Any, sampling: Any) -> Exposure:
        """The overlay in this process, or on the cluster of :attr:`client` (parts kept)."""
        if self.client is None:
            return overlay(registry, hazards, zones, sampling=sampling)
        from rahat.engine.distributed.overlay import overlay_parts

        exposure, parts = overlay_parts(self.client, registry, hazards, zones, sampling=sampling)
        self._parts[id(exposure)] = parts
        return exposure

    def cluster_seconds(self) -> dict[str, float]:
        """Seconds of each cluster phase (:attr:`WorkerParts.seconds`) over every overlay kept."""
        return {phase: round(v, 3) for phase, v in self._summed("seconds").items()}

    def cluster_moved_mb(self) -> dict[str, float]:
        """MiB moved to and from the workers (:attr:`WorkerParts.moved`) over every overlay kept."""
        return {what: round(v / 2**20, 3) for what, v in self._summed("moved").items()}

    def _summed(self, figures: str) -> dict[str, float]:
        """``WorkerParts.<figures>`` summed key by key over the overlays kept on the cluster."""
        out: dict[str, float] = {}
        for parts in self._parts.values():
            for key, value in getattr(parts, figures).items():
                out[key] = out.get(key, 0.0) + value
        return out

    def ranking(self, exposure: Exposure) -> Ranking | None:
        """How to rank households of ``exposure``: on the cluster where its parts are.

        ``None`` (rank in this process) without a cluster, and for an overlay the workers do
        not hold (read back from the exposure store: sending it would cost more than ranking).
        """
        parts = self._parts.get(id(exposure))  # only an overlay on the cluster has parts
        if parts is None or not parts.futures:
            return None
        from rahat.engine.distributed.ranking import distributed_ranking

        return distributed_ranking(self.client, parts)

    def _zone_layers(self) -> list[ZoneLayer]:
        if not self.zones:
            self.zones = default_zone_layers()
        return self.zones

    def _stored(
        self,
        registry: Registry,
        hazards: list[HazardLayer],
        scenario: Scenario | None,
        sampling: Mapping[str, tuple[Radius, Reducer]],
        sampled: tuple[object, ...],
    ) -> Exposure:
        """The overlay through the exposure store (a snapshot registry, default zones)."""
        from rahat.engine import exposure_store as stores

        assert registry.snapshot_sha256 is not None
        zones = [stores.default_zones_identity(), stores.user_zones_identity(scenario)]
        key = stores.exposure_key(registry.snapshot_sha256, hazards, scenario, sampled, zones)
        memory_key = (id(registry), key)
        if memory_key not in self._entries:
            found = stores.load_exposure(key, registry)
            if found is None:
                extra = load_zones(scenario) if scenario is not None else []
                zone_layers = [*self._zone_layers(), *extra]
                found = self._overlay(registry, hazards, zone_layers, sampling)
                stores.store_exposure(key, found)
            self._entries[memory_key] = found
        return self._entries[memory_key]
