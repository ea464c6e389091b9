"""A what-if's figures straight from the caseload's per-household arrays, without its frame.

A run summary reads ``caseload.parquet`` and groups its text columns
(:func:`rahat.api.service.aggregates.compute_aggregates`). A what-if holds the caseload in
memory as arrays (:class:`~rahat.engine.targeting.rows.CaseloadRows`: registry positions and
flags), so building its frame, writing it and grouping strings (seconds at national scale)
is not needed: each registry row's unit is numbered once per registry and level
(:func:`rahat.geo.units.factorize_rows` on the categorical codes), and a caseload's figures
are ``np.bincount`` sums over the units of its considered rows.

:func:`aggregates` returns exactly what ``compute_aggregates`` returns for the same caseload
(same units, order, counts and sums; the tests compare both), and
:func:`household_sets` exactly what the guard compares.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.api.service.aggregates import COUNTS, LEVELS, SELECTED_SUMS
from rahat.api.service.guard import HouseholdSets

if TYPE_CHECKING:
    import pandas as pd

    from rahat.engine.targeting.caseload import Caseload
    from rahat.geo.registry.model import Registry

#: The finest level of :data:`~rahat.api.service.aggregates.LEVELS`; the others are its
#: prefixes (a tehsil's key starts with its district's, which starts with its province's).
FINEST = "tehsil"


@dataclass(frozen=True)
class UnitGroups:
    """Each registry row's finest unit, and every level's units with the finest units' parents.

    Units are in the order a run summary lists them: their key texts sorted, each once.
    """

    per_row: np.ndarray  # finest unit of each registry row
    units: dict[str, list[tuple[str, ...]]]  # level -> unit keys
    parent: dict[str, np.ndarray]  # level -> its unit of each finest unit


#: By ``id`` of the registry: a weak reference to it (to tell a reused id) and its groups.
_GROUPS: dict[int, tuple[weakref.ref[Registry], UnitGroups]] = {}
_GROUPS_LOCK = threading.Lock()


def _unit_groups(frame: pd.DataFrame) -> UnitGroups:
    from rahat.geo.units import factorize_rows

    keys = LEVELS[FINEST]
    present = [k for k in keys if k in frame.columns]
    rows, combos = factorize_rows(frame, present) if present else (np.zeros(len(frame)), [()])
    texts = []
    for combo in combos:
        named = dict(zip(present, combo, strict=True))
        texts.append(tuple("" if named.get(k) is None else str(named[k]) for k in keys))
    finest = sorted(set(texts))  # missing values are "", as the summary's text columns
    position = {key: i for i, key in enumerate(finest)}
    merged = np.array([position[key] for key in texts], dtype=np.int32)
    per_row = np.take(merged, rows.astype(np.int64)) if len(rows) else np.zeros(0, np.int32)
    units: dict[str, list[tuple[str, ...]]] = {}
    parent: dict[str, np.ndarray] = {}
    for level, level_keys in LEVELS.items():
        width = len(level_keys)
        units[level] = sorted({key[:width] for key in finest})
        index = {key: i for i, key in enumerate(units[level])}
        parent[level] = np.array([index[key[:width]] for key in finest], dtype=np.int64)
    return UnitGroups(per_row, units, parent)


def unit_groups(registry: Registry) -> UnitGroups:
    """The units of a registry's rows, numbered once per registry (kept while it lives)."""
    with _GROUPS_LOCK:
        for key in [key for key, (ref, _) in _GROUPS.items() if ref() is None]:
            del _GROUPS[key]  # registries gone
        found = _GROUPS.get(id(registry))
        if found is not None and found[0]() is registry:
            return found[1]
        groups = _unit_groups(registry.frame)
        _GROUPS[id(registry)] = (weakref.ref(registry), groups)
        return groups


#: The considered rows of the last caseloads (a what-if's base and variant, one slider move
#: and the next mostly consider the same households): ``(registry, idx, figures)``.
_CONSIDERED: list[tuple[weakref.ref[Registry], np.ndarray, Considered]] = []
_CONSIDERED_LOCK = threading.Lock()
_CONSIDERED_KEPT = 2


@dataclass(frozen=True)
class Considered:
    """What depends only on which registry rows a caseload considers, not on its decisions."""

    order: np.ndarray  # positions into idx, by household id
    ids: np.ndarray  # household ids in that order
    unit: np.ndarray  # finest unit of each considered row
    households: np.ndarray  # considered rows per finest unit


def considered(registry: Registry, idx: np.ndarray) -> Considered:
    """The id order and units of registry rows ``idx`` (the last few answers are kept)."""
    with _CONSIDERED_LOCK:
        for ref, kept_idx, found in _CONSIDERED:
            if ref() is registry and np.array_equal(kept_idx, idx):
                return found
    ids = np.take(registry.household_id, idx).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    groups = unit_groups(registry)
    unit = np.take(groups.per_row, idx)
    households = np.bincount(unit, minlength=len(groups.units[FINEST]))
    found = Considered(order, ids[order], unit, households)
    with _CONSIDERED_LOCK:
        _CONSIDERED.insert(0, (weakref.ref(registry), idx.copy(), found))
        del _CONSIDERED[_CONSIDERED_KEPT:]
    return found


def _household_sizes(registry: Registry, rows: np.ndarray) -> np.ndarray:
    """Household size of registry rows ``rows`` (int64; 0 without the column or the value)."""
    if "household_size" not in registry.frame.columns:
        return np.zeros(len(rows), dtype=np.int64)
    size = np.take(registry.array("household_size"), rows).astype(np.float64)
    return np.nan_to_num(size).astype(np.int64)


def _exact(values: np.ndarray) -> bool:
    """Whether bin sums of ``values`` are exact in any order (whole numbers, small enough)."""
    return bool(np.all(values == np.round(values))) and float(np.abs(values).sum()) < 2.0**53


def aggregates(caseload: Caseload) -> dict[str, Any] | None:
    """The unsuppressed aggregates of ``caseload`` (as ``compute_aggregates`` gives them).

    ``None`` when the caseload has no per-household arrays or its benefits are not whole
    rupees (then the order of a float sum could matter: the caller takes the frame's way).
    Only the selected households are summed for the selected figures (the others add 0).
    """
    rows = caseload.rows
    if rows is None:
        return None
    registry = rows.exposure.registry
    chosen = np.flatnonzero(rows.selected)
    benefit = np.nan_to_num(np.take(rows.entitled, chosen).astype(np.float64))
    if not _exact(benefit):
        return None
    found = considered(registry, rows.idx)
    groups = unit_groups(registry)
    size = len(groups.units[FINEST])
    unit = np.take(found.unit, chosen)
    persons = _household_sizes(registry, np.take(rows.idx, chosen))
    finest = {
        "households": found.households,
        "eligible": np.bincount(found.unit[rows.eligible.astype(bool)], minlength=size),
        "selected": np.bincount(unit, minlength=size),
        "persons_selected": np.bincount(unit, weights=persons, minlength=size),
        "benefit": np.bincount(unit, weights=benefit, minlength=size),
    }
    names = [*COUNTS, *SELECTED_SUMS]
    result: dict[str, Any] = {"totals": {}, "levels": {}}
    for name in names:
        total = finest[name].sum()
        result["totals"][name] = float(total) if name == "benefit" else round(float(total))
    for level, keys in LEVELS.items():
        units, parent = groups.units[level], groups.parent[level]
        columns = {
            name: np.bincount(parent, weights=finest[name], minlength=len(units)) for name in names
        }
        present = np.flatnonzero(columns["households"] > 0)
        result["levels"][level] = [
            dict(zip(keys, units[i], strict=True))
            | {
                name: float(columns[name][i]) if name == "benefit" else round(columns[name][i])
                for name in names
            }
            for i in present.tolist()
        ]
    return result


def household_sets(caseload: Caseload) -> HouseholdSets | None:
    """The guard's household sets of ``caseload`` from its arrays (``None``: it has none)."""
    rows = caseload.rows
    if rows is None:
        return None
    registry = rows.exposure.registry
    found = considered(registry, rows.idx)
    chosen = rows.selected.astype(bool)[found.order]
    picked = found.order[chosen]  # positions into idx of the selected, by household id
    return HouseholdSets(
        considered=found.ids,
        eligible=found.ids[rows.eligible.astype(bool)[found.order]],
        selected=found.ids[chosen],
        selected_benefit=np.take(rows.entitled, picked).astype(np.float64),
        selected_persons=_household_sizes(registry, np.take(rows.idx, picked)),
    )


def selection_changes(base: Caseload, variant: Caseload) -> dict[str, int] | None:
    """Households the variant adds to, drops from and keeps of the base's selection.

    By registry position (both caseloads evaluated on one registry, whose rows are distinct
    households); ``None`` when either caseload has no per-household arrays or they are of
    different registries (then the full comparison answers).
    """
    a, b = base.rows, variant.rows
    if a is None or b is None or a.exposure.registry is not b.exposure.registry:
        return None
    chosen = np.zeros(len(a.exposure.registry), dtype=bool)
    chosen[a.idx[a.selected.astype(bool)]] = True
    picked = b.idx[b.selected.astype(bool)]
    kept = int(np.count_nonzero(chosen[picked]))
    return {
        "added": len(picked) - kept,
        "dropped": int(np.count_nonzero(chosen)) - kept,
        "kept": kept,
    }
