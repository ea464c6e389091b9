"""A registry's partitions on a cluster's workers: their rows read there, their overlay kept there.

A worker needs the households of its partition, every column of them, to overlay and then to
rank them (:mod:`rahat.engine.distributed.ranking`):

* a registry memory-mapped from a snapshot (:func:`rahat.geo.registry.snapshot.load_snapshot`)
  is read by each worker from the snapshot folder itself (:class:`SnapshotRows`: its path and
  the sha256 of its column file, checked there). The folder must be where every worker can read
  it (a shared filesystem); a worker maps the file once and touches only the pages of its rows,
  so nothing of the registry crosses the network;
* any other registry (a CSV read by this process) is sent: each task carries its rows.

:class:`WorkerParts` keeps the futures of the partitions' exposures on the workers that
computed them: the evaluation's ranking runs where they are, and a part lost with its worker is
computed again by Dask from its task (the rows' source and the layers, all still known).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure, HazardExposure, ZoneExposure
from rahat.geo.errors import InputError
from rahat.geo.registry.model import Registry
from rahat.geo.registry.partitions import rows_between


@dataclass(frozen=True)
class SnapshotRows:
    """A snapshot the workers read their rows from.

    Attributes
    ----------
    folder
        The snapshot folder, as this process opened it (a worker opens the same path).
    sha256
        The sha256 of its column file: a worker that finds another file there fails.
    households
        Its number of households.
    """

    folder: str
    sha256: str
    households: int


#: What a task reads its households from: a snapshot, or the rows themselves.
RowSource = SnapshotRows | pd.DataFrame


def snapshot_rows(registry: Registry) -> SnapshotRows | None:
    """The snapshot ``registry`` is, as it is (``None`` for any other registry)."""
    if registry.snapshot_sha256 is None or registry.source is None:
        return None
    return SnapshotRows(str(Path(registry.source).parent), registry.snapshot_sha256, len(registry))


def row_source(registry: Registry, start: int, stop: int) -> RowSource:
    """What the task of rows ``start:stop`` reads them from: the snapshot, else the rows."""
    return snapshot_rows(registry) or rows_between(registry, start, stop).frame


@functools.lru_cache(maxsize=2)
def _mapped(folder: str, sha256: str, households: int) -> Registry:
    """On a worker: the snapshot at ``folder``, mapped once per process, checked."""
    from rahat.geo.registry.snapshot import load_snapshot

    registry, info = load_snapshot(folder)
    if info.sha256 != sha256 or info.households != households:
        raise InputError(
            f"a Dask worker finds another registry snapshot at {folder} (sha256 "
            f"{info.sha256[:12]}..., {info.households:,} households; the run's is "
            f"{sha256[:12]}..., {households:,}): give the workers the same snapshot folder"
        )
    return registry


def part_registry(source: RowSource, start: int, stop: int) -> Registry:
    """On a worker: the households of rows ``start:stop`` of the run's registry."""
    if isinstance(source, SnapshotRows):
        return rows_between(_mapped(source.folder, source.sha256, source.households), start, stop)
    return Registry.from_frame(source)


@dataclass(frozen=True)
class PartArrays:
    """A part's overlay without its households: what travels back to this process."""

    hazards: dict[str, HazardExposure]
    zones: dict[str, ZoneExposure]

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays."""
        sampled = sum(h.intensity.nbytes + h.hazard_class.nbytes for h in self.hazards.values())
        return sampled + sum(z.codes.nbytes for z in self.zones.values())


def part_arrays(part: Exposure) -> PartArrays:
    """On a worker: a part's sampled layers and zone codes (its rows stay there)."""
    return PartArrays(hazards=dict(part.hazards), zones=dict(part.zones))


def joined_exposure(registry: Registry, parts: list[PartArrays]) -> Exposure:
    """The parts' arrays end to end, for ``registry`` (names and tables from the first)."""
    first = parts[0]
    hazards = {
        name: HazardExposure(
            name=layer.name,
            kind=layer.kind,
            units=layer.units,
            intensity=np.concatenate([p.hazards[name].intensity for p in parts]),
            hazard_class=np.concatenate([p.hazards[name].hazard_class for p in parts]),
            class_labels=layer.class_labels,
            sha256=layer.sha256,
        )
        for name, layer in first.hazards.items()
    }
    zones = {
        name: ZoneExposure(
            name=zone.name,
            codes=np.concatenate([p.zones[name].codes for p in parts]),
            table=zone.table,
        )
        for name, zone in first.zones.items()
    }
    return Exposure(registry=registry, hazards=hazards, zones=zones)


@dataclass
class WorkerParts:
    """The exposure of each run of rows, kept on the worker that computed it.

    Attributes
    ----------
    runs
        ``(start, stop)`` of each part, in row order, covering the registry.
    futures
        One ``distributed.Future`` per part: its :class:`~rahat.engine.exposure.Exposure`.
    held
        Futures the parts are computed from (the layers): kept while the parts are, so that a
        part lost with its worker can be computed again.
    seconds
        Wall time of each phase so far: ``scatter`` (the layers put on the cluster), ``overlay``
        (the parts, until their arrays are here), ``rank`` (the rankings on the workers) and
        ``merge`` (their reduce here), summed over evaluations.
    moved
        Bytes sent and received so far: ``layers_out`` (the layers, once to each worker),
        ``rows_out`` (the rows' sources: a snapshot's path, or the rows themselves),
        ``overlay_back`` (the sampled arrays), ``rank_out`` and ``rank_back`` (the
        rankings' inputs and results).
    """

    runs: list[tuple[int, int]]
    futures: list[Any]
    held: list[Any] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)

    def timed(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` to ``phase``."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def sent(self, what: str, nbytes: int) -> None:
        """Add ``nbytes`` to what was moved as ``what``."""
        self.moved[what] = self.moved.get(what, 0) + int(nbytes)

    def release(self) -> None:
        """Let the workers drop the parts."""
        for future in [*self.futures, *self.held]:
            future.release()
        self.futures, self.held = [], []
