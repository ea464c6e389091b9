"""Hazard classes: ordered labels with thresholds, read from ``classes.yaml``.

The defaults live in one data file next to this module; a scenario may override any kind with a
mapping of the same shape (:func:`load_classes`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from rahat.geo.errors import ScenarioError
from rahat.geo.hazards.kinds import HazardKind, parse_kind

#: Class code of NaN / no-data cells.
NODATA_CODE = -1


@dataclass(frozen=True)
class Classification:
    """Ordered hazard classes of one kind.

    Class 0 is "none" (dry, not felt, not affected). Class ``i >= 1`` applies when a value passes
    ``thresholds[i - 1]``; thresholds are monotonic, so the code of a value is the number of
    thresholds it passes.

    Comparison rule (documented contract): comparisons are made **in the values' own dtype**.
    For floating values each threshold is first cast to that dtype, so a float32 depth stored as
    ``np.float32(0.3)`` against a threshold of 0.3 is "at least 0.3" (in float64 the float32
    value would be 0.29999998...). For integer values a threshold is rounded to the integer bound
    with the same meaning (``v >= 5.5`` becomes ``v >= 6``; ``v > 0`` becomes ``v >= 1``).

    Parameters
    ----------
    kind
        The hazard kind the classes are for.
    labels
        Class names, class 0 first.
    thresholds
        One bound per class from 1 on (``len(labels) - 1`` of them), in ``units``.
    units
        Units of the thresholds.
    descending
        ``False`` (default): class ``i`` when ``value >= thresholds[i - 1]`` (lower bounds,
        thresholds increasing). ``True``: class ``i`` when ``value <= thresholds[i - 1]``
        (upper bounds, thresholds decreasing; for indices where lower is worse, such as SPI).
    inclusive
        ``False`` makes the comparisons strict (``>`` / ``<``).
    """

    kind: HazardKind
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    units: str = ""
    descending: bool = False
    inclusive: bool = True

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.thresholds) + 1:
            raise ScenarioError(
                f"classes for {self.kind.value}: {len(self.labels)} labels need "
                f"{len(self.labels) - 1} thresholds, got {len(self.thresholds)}"
            )
        if len(set(self.labels)) != len(self.labels):
            raise ScenarioError(f"classes for {self.kind.value}: labels must be unique")
        steps = np.diff(np.asarray(self.thresholds, dtype=float))
        if (self.descending and np.any(steps >= 0)) or (not self.descending and np.any(steps <= 0)):
            order = "decreasing" if self.descending else "increasing"
            raise ScenarioError(
                f"classes for {self.kind.value}: thresholds {list(self.thresholds)} must be "
                f"strictly {order}"
            )

    @property
    def n_classes(self) -> int:
        """Number of classes, class 0 included."""
        return len(self.labels)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Return ``(lower, upper)`` of each class in ascending value order semantics.

        For descending classifications ``lower`` is the value side nearer to class 0.
        """
        edges: list[float | None] = [None, *self.thresholds, None]
        return [(edges[i], edges[i + 1]) for i in range(self.n_classes)]

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Return the int8 class code of every value (-1 for NaN).

        Parameters
        ----------
        values
            Numeric array of any shape. No-data sentinels other than NaN must be masked by the
            caller (:meth:`HazardLayer.classify` does this).

        Returns
        -------
        numpy.ndarray
            int8 array of the same shape: 0 = none, ``i`` = ``labels[i]``, -1 = NaN.
        """
        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"cannot classify values of dtype {arr.dtype}")
        codes = np.zeros(arr.shape, dtype=np.int8)
        for threshold in self.thresholds:
            codes += self._passes(arr, threshold)
        if arr.dtype.kind == "f":
            codes[np.isnan(arr)] = NODATA_CODE
        return codes

    def _passes(self, arr: np.ndarray, threshold: float) -> np.ndarray:
        if arr.dtype.kind == "f":
            t: Any = arr.dtype.type(threshold)
            strict_up, strict_down = np.greater, np.less
            if self.descending:
                return strict_down(arr, t) if not self.inclusive else np.less_equal(arr, t)
            return strict_up(arr, t) if not self.inclusive else np.greater_equal(arr, t)
        # integers and booleans: use the equivalent integer bound, compared in int64
        if self.descending:
            bound = math.floor(threshold) if self.inclusive else math.ceil(threshold) - 1
            return np.less_equal(arr, np.int64(bound))
        bound = math.ceil(threshold) if self.inclusive else math.floor(threshold) + 1
        return np.greater_equal(arr, np.int64(bound))

    def to_dict(self) -> dict[str, Any]:
        """Return the classification as a plain mapping (the ``classes.yaml`` shape)."""
        return {
            "units": self.units,
            "labels": list(self.labels),
            "thresholds": list(self.thresholds),
            "descending": self.descending,
            "inclusive": self.inclusive,
        }

    @classmethod
    def from_mapping(
        cls, kind: HazardKind | str, spec: Mapping[str, Any], *, base: Classification | None = None
    ) -> Classification:
        """Build a classification from a ``classes.yaml``-shaped mapping.

        Parameters
        ----------
        kind
            Hazard kind.
        spec
            Mapping with ``labels``, ``thresholds`` and optional ``units``, ``descending``,
            ``inclusive``. Keys left out are taken from ``base``.
        base
            Classification whose values fill the keys ``spec`` leaves out.

        Raises
        ------
        rahat.geo.errors.ScenarioError
            On unknown keys or inconsistent values.
        """
        kind_ = parse_kind(kind)
        assert kind_ is not None
        unknown = set(spec) - {"units", "labels", "thresholds", "descending", "inclusive"}
        if unknown:
            raise ScenarioError(
                f"classes for {kind_.value}: unknown keys {sorted(unknown)}; use units, labels, "
                "thresholds, descending, inclusive"
            )
        merged: dict[str, Any] = base.to_dict() if base is not None else {}
        merged.update(spec)
        try:
            return cls(
                kind=kind_,
                labels=tuple(str(x) for x in merged["labels"]),
                thresholds=tuple(float(x) for x in merged["thresholds"]),
                units=str(merged.get("units", kind_.default_units)),
                descending=bool(merged.get("descending", False)),
                inclusive=bool(merged.get("inclusive", True)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(
                f"classes for {kind_.value}: need 'labels' (list of names) and 'thresholds' "
                f"(list of numbers): {exc}"
            ) from None


@lru_cache(maxsize=1)
def _default_specs() -> dict[str, Any]:
    import yaml

    text = resources.files("rahat.geo.hazards").joinpath("classes.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def load_classes(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[HazardKind, Classification]:
    """Return the classification of every kind: defaults from ``classes.yaml`` plus overrides.

    Parameters
    ----------
    overrides
        Optional mapping ``kind -> {labels, thresholds, ...}`` (for example from a scenario);
        keys left out of an override keep their default.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        On an unknown kind or an inconsistent override.
    """
    out = {
        HazardKind(name): Classification.from_mapping(name, spec)
        for name, spec in _default_specs().items()
    }
    for name, spec in (overrides or {}).items():
        kind = parse_kind(name)
        assert kind is not None
        out[kind] = Classification.from_mapping(kind, spec, base=out[kind])
    return out


def default_classes(
    kind: HazardKind | str, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Classification:
    """Return the classification of one kind (defaults plus optional overrides)."""
    kind_ = parse_kind(kind)
    assert kind_ is not None
    return load_classes(overrides)[kind_]
