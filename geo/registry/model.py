"""The :class:`Registry`: a validated, columnar table of households."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rahat.geo.registry.schema import COLUMNS_BY_NAME


@dataclass(frozen=True)
class Registry:
    """A validated household registry: one household per row, columns as arrays.

    Build one with :func:`rahat.geo.registry.read_registry` (which validates) or
    :meth:`from_frame` (which trusts the caller). The frame uses the canonical dtypes of
    :mod:`rahat.geo.registry.schema`: int/float NumPy columns, pandas categoricals for names and
    codes, ``datetime64[s]`` for dates.

    Attributes
    ----------
    frame
        The households. Treat it as read-only.
    source
        Where the registry was read from, if anywhere.
    snapshot_sha256
        The sha256 of the snapshot column file the frame is memory-mapped from, when it is a
        snapshot's households as they are (:func:`rahat.geo.registry.snapshot.load_snapshot`);
        ``None`` otherwise. Not carried by :meth:`take` or :meth:`from_frame`: other rows are
        another registry. Stored overlays are keyed by it (:mod:`rahat.engine.exposure_store`).
    """

    frame: pd.DataFrame
    source: str | None = None
    snapshot_sha256: str | None = field(default=None, compare=False)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str | None = None) -> Registry:
        """Wrap an already validated frame (canonical dtypes, unique ids) without copying."""
        return cls(frame=frame.reset_index(drop=True), source=source)

    def __len__(self) -> int:
        return len(self.frame)

    def array(self, name: str) -> np.ndarray:
        """Return a column as a NumPy array (categoricals as their integer codes)."""
        if name not in self._arrays:
            column = self.frame[name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                values = column.cat.codes.to_numpy()
            else:
                spec = COLUMNS_BY_NAME.get(name)
                dtype = spec.dtype if spec is not None and spec.dtype is not None else None
                values = column.to_numpy(dtype=dtype)
            self._arrays[name] = values
        return self._arrays[name]

    @property
    def household_id(self) -> np.ndarray:
        """Pseudonymous household ids (int64)."""
        return self.array("household_id")

    @property
    def lon(self) -> np.ndarray:
        """Longitudes, WGS 84 (float64)."""
        return self.array("lon")

    @property
    def lat(self) -> np.ndarray:
        """Latitudes, WGS 84 (float64)."""
        return self.array("lat")

    def bounds(self) -> tuple[float, float, float, float]:
        """Return ``(min_lon, min_lat, max_lon, max_lat)``; NaNs for an empty registry."""
        if len(self) == 0:
            return (np.nan, np.nan, np.nan, np.nan)
        lon, lat = self.lon, self.lat
        return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))

    def take(self, indices: np.ndarray) -> Registry:
        """Return the households at ``indices`` (positions), in that order."""
        return Registry.from_frame(self.frame.take(indices), source=self.source)

    def nbytes(self) -> int:
        """Return the memory held by the columns, in bytes."""
        return int(self.frame.memory_usage(deep=False, index=False).sum())
