"""Partitions of a snapshot: contiguous runs of its households along the Hilbert curve.

A snapshot's households are in canonical order (:func:`rahat.geo.registry.order.canonical_order`):
sorted along a Hilbert curve over the bounds of their points. A *partition* is a run of rows
``start:stop`` of that order whose Hilbert keys lie in ``[key_min, key_max]``; partitions are
listed in ``snapshot.json`` with their bounds, so that a worker of a cluster maps only its rows
of ``households.arrow`` (the file is memory-mapped: pages it never touches are never read) and
reads only the window of a raster under its bounds.

:func:`plan_partitions` cuts the order into ``n`` runs of about equal households, each cut
moved back to the start of its run of equal keys, so that a key (a cell of the curve) never
spans two partitions and the key ranges do not overlap; fewer than ``n`` partitions come back
when there are fewer distinct keys. :func:`partition_rows` gives a partition's households.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rahat.geo.registry.model import Registry
from rahat.geo.registry.order import hilbert_keys

#: Most partitions one snapshot is cut into.
MAX_PARTITIONS = 4096


@dataclass(frozen=True)
class Partition:
    """A run of a snapshot's rows along the Hilbert curve.

    Attributes
    ----------
    index
        0, 1, ... in curve order.
    start, stop
        Rows ``start:stop`` of the snapshot.
    key_min, key_max
        Hilbert keys of its first and last household (inclusive; ranges never overlap).
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of its households with coordinates (NaN when
        none has any).
    """

    index: int
    start: int
    stop: int
    key_min: int
    key_max: int
    bounds: tuple[float, float, float, float]

    @property
    def households(self) -> int:
        """Rows of the partition."""
        return self.stop - self.start

    def to_json(self) -> dict[str, Any]:
        """The partition as ``snapshot.json`` lists it (NaN bounds as ``null``)."""
        return {
            "index": self.index,
            "start": self.start,
            "stop": self.stop,
            "households": self.households,
            "key_min": self.key_min,
            "key_max": self.key_max,
            "bounds": [None if math.isnan(b) else b for b in self.bounds],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Partition:
        """The partition ``snapshot.json`` lists (see :meth:`to_json`)."""
        bounds = tuple(math.nan if b is None else float(b) for b in data["bounds"])
        if len(bounds) != 4:
            raise ValueError("a partition's bounds are four numbers")
        return cls(
            index=int(data["index"]),
            start=int(data["start"]),
            stop=int(data["stop"]),
            key_min=int(data["key_min"]),
            key_max=int(data["key_max"]),
            bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        )


def curve_keys(registry: Registry) -> np.ndarray:
    """Hilbert key of each household, as :func:`~rahat.geo.registry.order.spatial_order` sorts.

    The curve covers the bounds of the finite points; NaN points get the last key.
    """
    lon, lat = registry.lon, registry.lat
    finite = np.isfinite(lon) & np.isfinite(lat)
    if not finite.any():
        return np.zeros(len(lon), dtype=np.uint32)
    bounds = (lon[finite].min(), lat[finite].min(), lon[finite].max(), lat[finite].max())
    return hilbert_keys(lon, lat, bounds)


def plan_partitions(registry: Registry, n: int) -> tuple[Partition, ...]:
    """Cut a registry in canonical order into at most ``n`` runs along the Hilbert curve.

    Parameters
    ----------
    registry
        Households in canonical order (a snapshot's).
    n
        Partitions wanted (1 to :data:`MAX_PARTITIONS`).

    Returns
    -------
    tuple of Partition
        Contiguous, covering every row once, in curve order; no key in two partitions.

    Raises
    ------
    ValueError
        If ``n`` is out of range or the registry is not in canonical order.
    """
    if not 1 <= n <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be between 1 and {MAX_PARTITIONS}, got {n}")
    keys = curve_keys(registry)
    if len(keys) > 1 and bool(np.any(keys[1:] < keys[:-1])):
        raise ValueError("the registry is not in canonical order: partition a snapshot")
    if len(keys) == 0:
        return ()
    targets = (np.arange(1, n, dtype=np.int64) * len(keys)) // n
    # each cut at the start of its run of equal keys: a key never spans two partitions
    cuts = np.searchsorted(keys, keys[targets], side="left") if len(targets) else targets
    edges = np.unique(np.concatenate([[0], cuts, [len(keys)]]))
    lon, lat = registry.lon, registry.lat
    parts = []
    starts, stops = edges[:-1].tolist(), edges[1:].tolist()
    for index, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        x, y = lon[start:stop], lat[start:stop]
        finite = np.isfinite(x) & np.isfinite(y)
        bounds = (
            (float(x[finite].min()), float(y[finite].min()), float(x[finite].max()),
             float(y[finite].max()))
            if finite.any()
            else (math.nan,) * 4
        )  # fmt: skip
        parts.append(
            Partition(
                index=index,
                start=start,
                stop=stop,
                key_min=int(keys[start]),
                key_max=int(keys[stop - 1]),
                bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
            )
        )
    return tuple(parts)


def partition_rows(registry: Registry, partition: Partition) -> Registry:
    """The households of ``partition`` (rows ``start:stop``; the columns' memory is shared)."""
    return rows_between(registry, partition.start, partition.stop, f"partition {partition.index}")


def rows_between(registry: Registry, start: int, stop: int, what: str = "a run") -> Registry:
    """Rows ``start:stop`` of ``registry``, sharing the columns' memory.

    Raises
    ------
    ValueError
        If the rows do not fit the registry (``what`` names them in the message).
    """
    if not 0 <= start <= stop <= len(registry):
        raise ValueError(
            f"{what} (rows {start}:{stop}) does not fit a registry of {len(registry):,} households"
        )
    frame = registry.frame.iloc[start:stop]
    return Registry.from_frame(frame, source=registry.source)
