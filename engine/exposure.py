"""What the overlay produces: per-household hazard intensities and zone memberships.

An :class:`Exposure` aligns with its :attr:`Exposure.registry`: element ``i`` of every array
belongs to household ``registry.frame.iloc[i]``. Arrays are plain NumPy so that policy
evaluation stays vectorised and a scenario re-evaluated on a cached exposure costs no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rahat.geo.registry.model import Registry


@dataclass(frozen=True)
class HazardExposure:
    """One hazard layer sampled at every household.

    Attributes
    ----------
    name
        Layer name (as in the scenario).
    kind
        Hazard kind (``rahat.geo.hazards.HazardKind`` value, e.g. ``flood_depth``).
    units
        Units of ``intensity`` (e.g. ``m``).
    intensity
        Value at each household in the layer's own floating dtype (float32 for a float32
        raster); NaN where the layer has no data, or the household lies outside it. For vector
        footprints, the ``value`` attribute of the polygon the household falls in.
    hazard_class
        Class code per household (int8): 0 = none, ``k`` = ``class_labels[k]``, -1 = no data.
    class_labels
        Label of each class code, starting with code 0.
    sha256
        Hash of the source file's bytes (provenance).
    """

    name: str
    kind: str
    units: str
    intensity: np.ndarray
    hazard_class: np.ndarray
    class_labels: tuple[str, ...]
    sha256: str = ""


@dataclass(frozen=True)
class ZoneExposure:
    """Membership of every household in one zone layer (admin units, climate zones, ...).

    Attributes
    ----------
    name
        Layer name: ``province``, ``district``, ``tehsil``, ``climate`` or a user layer's name.
    codes
        Row of ``table`` the household lies in (int32), -1 when in none.
    table
        One row per zone: at least a ``name`` column; ``pcode`` where known.
    """

    name: str
    codes: np.ndarray
    table: pd.DataFrame

    def labels(self, column: str = "name") -> np.ndarray:
        """Return ``table[column]`` per household (``None`` where the household is in no zone)."""
        values = self.table[column].to_numpy(dtype=object)
        out = np.full(len(self.codes), None, dtype=object)
        inside = self.codes >= 0
        out[inside] = values[self.codes[inside]]
        return out


@dataclass(frozen=True)
class Exposure:
    """Hazards and zones for every household of a registry.

    Attributes
    ----------
    registry
        The households, in the order of every array here.
    hazards
        Sampled hazard layers by name.
    zones
        Zone memberships by layer name.
    """

    registry: Registry
    hazards: dict[str, HazardExposure] = field(default_factory=dict)
    zones: dict[str, ZoneExposure] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.registry)
