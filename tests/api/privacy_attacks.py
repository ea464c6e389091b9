"""Attacks on published aggregates: subtraction, and an exact linear-programming attacker.

The LP attacker knows every figure a caller was shown (summaries of runs at every level,
comparisons) and that they are counts of the same households. Its unknowns are the numbers of
households of each *type* (which runs considered, found eligible, selected them) in each
smallest unit; every published figure is the sum of some of them. For each blanked figure it
computes the smallest and largest value consistent with everything shown (``scipy.optimize.
linprog``, HiGHS). A blanked figure whose bounds meet has been recovered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

UNIT_KEYS = {"province": ["province"], "district": ["province", "district"]}
UNIT_KEYS["tehsil"] = ["province", "district", "tehsil"]
SUMMARY_COLUMNS = {"households": "considered", "eligible": "eligible", "selected": "selected"}


@dataclass(frozen=True)
class Cell:
    """One figure: households of ``unit`` (key at ``level``) whose type satisfies ``test``."""

    name: str
    level: str
    unit: tuple[str, ...]
    test: Callable[[pd.Series], bool]
    value: int | None


def summary_cells(view: dict, tag: str) -> list[Cell]:
    """Cells of a run's summaries at every level (``view``: level -> summary body).

    A cell's ``test`` takes a mapping of boolean arrays (one per type column) and returns the
    mask of the types it counts.
    """
    cells = []
    for level, body in view.items():
        rows = [(("nation",), (), body["totals"])] if level == "province" else []
        rows += [
            (UNIT_KEYS[level], tuple(str(u[k]) for k in UNIT_KEYS[level]), u) for u in body["units"]
        ]
        for _keys, unit, row in rows:
            lv = "nation" if unit == () else level
            for column, flag in SUMMARY_COLUMNS.items():
                name = f"{flag}_{tag}"
                cells.append(
                    Cell(f"{tag}.{lv}.{unit}.{column}", lv, unit, _flag(name), row[column])
                )
    return cells


def compare_cells(body: dict) -> list[Cell]:
    """Cells of a comparison of runs ``a`` and ``b``."""
    tests = {
        "selected_a": lambda t: t["selected_a"],
        "selected_b": lambda t: t["selected_b"],
        "added": lambda t: t["selected_b"] & ~t["selected_a"],
        "dropped": lambda t: t["selected_a"] & ~t["selected_b"],
        "kept": lambda t: t["selected_a"] & t["selected_b"],
    }
    names = {"in_both": "kept", "only_a": "dropped", "only_b": "added"}
    cells = []
    for name, value in body["overlap"].items():
        column = names.get(name, name)
        cells.append(Cell(f"compare.nation.{column}", "nation", (), tests[column], value))
    keys = UNIT_KEYS[body["level"]]
    for unit in body["units"]:
        key = tuple(str(unit[k]) for k in keys)
        for column, test in tests.items():
            cells.append(
                Cell(
                    f"compare.{body['level']}.{key}.{column}",
                    body["level"],
                    key,
                    test,
                    unit[column],
                )
            )
    return cells


def _flag(name: str) -> Callable[[pd.Series], bool]:
    return lambda t: t[name]


def lp_bounds(
    households: pd.DataFrame, cells: Sequence[Cell], k: int, sample: int | None = None
) -> list[tuple[Cell, float, float, int]]:
    """Bounds an attacker gets on each blanked cell of ``1..k-1`` households, with its value.

    The upper bound is computed first; when it already exceeds the true value the cell is not
    recovered and the lower bound is reported as ``-inf`` (not computed). ``sample`` limits the
    cells attacked to a deterministic sample of that many.

    Parameters
    ----------
    households
        One row per household: ``province``, ``district``, ``tehsil`` and boolean type
        columns (``considered_a``, ``eligible_a``, ``selected_a``, ... for each run tag).
    cells
        Every figure shown to the attacker; ``value`` ``None`` for blanked ones.
    """
    from scipy.optimize import linprog

    flags = [c for c in households.columns if c not in UNIT_KEYS["tehsil"]]
    atoms = (
        households.groupby([*UNIT_KEYS["tehsil"], *flags], sort=True).size().reset_index(name="n")
    )
    truth = atoms["n"].to_numpy(dtype=float)
    types = {name: atoms[name].to_numpy(dtype=bool) for name in flags}

    def row_of(cell: Cell) -> np.ndarray:
        if cell.level == "nation":
            inside = np.ones(len(atoms), bool)
        else:
            keys = UNIT_KEYS[cell.level]
            inside = np.all(
                [
                    atoms[k].astype(str).to_numpy() == v
                    for k, v in zip(keys, cell.unit, strict=True)
                ],
                axis=0,
            )
        typed = np.asarray(cell.test(types), dtype=bool)
        return (inside & typed).astype(float)

    known = [c for c in cells if c.value is not None]
    hidden = [c for c in cells if c.value is None]
    a_eq = np.array([row_of(c) for c in known]) if known else None
    b_eq = np.array([float(c.value) for c in known]) if known else None
    if a_eq is not None:
        assert np.allclose(a_eq @ truth, b_eq), "published figures disagree with the households"
    targets = []
    for cell in hidden:
        objective = row_of(cell)
        true_value = int(objective @ truth)
        if 0 < true_value < k:
            targets.append((cell, objective, true_value))
    if sample is not None and len(targets) > sample:
        picks = np.random.default_rng(0).choice(len(targets), size=sample, replace=False)
        targets = [targets[i] for i in sorted(picks)]
    out = []
    for cell, objective, true_value in targets:
        bounds = []
        for sign in (-1.0, 1.0):
            if bounds and bounds[0] >= true_value + 1:
                bounds.append(-np.inf)
                break
            res = linprog(sign * objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
            if res.status == 3:  # unbounded: nothing shown bounds this cell
                bounds.append(np.inf)
                continue
            assert res.status == 0, res.message
            bounds.append(sign * res.fun)
        high, low = bounds
        out.append((cell, low, high, true_value))
    return out


def recovered(results: Iterable[tuple[Cell, float, float, int]], k: int) -> list[str]:
    """Blanked cells of ``1..k-1`` households whose bounds meet (computed exactly)."""
    return [
        f"{cell.name} = {true} (bounds {lo:g}..{hi:g})"
        for cell, lo, hi, true in results
        if 0 < true < k and hi - lo < 1 - 1e-9
    ]


def subtraction_attack(levels: dict[str, dict]) -> list[str]:
    """The reviewer's attack: parent total minus the visible children, at every level.

    ``levels`` maps ``province``/``district``/``tehsil`` to summary bodies of one run. Returns
    the blanked cells it computes (``name = value``).
    """
    found = []
    parents = {
        "province": {(): levels["province"]["totals"]},
        "district": {(str(u["province"]),): u for u in levels["province"]["units"]},
        "tehsil": {
            (str(u["province"]), str(u["district"])): u for u in levels["district"]["units"]
        },
    }
    for level, body in levels.items():
        depth = len(UNIT_KEYS[level]) - 1
        families: dict[tuple[str, ...], list[dict]] = {}
        for unit in body["units"]:
            key = tuple(str(unit[k]) for k in UNIT_KEYS[level])
            families.setdefault(key[:depth], []).append(unit)
        for parent_key, children in families.items():
            parent = parents[level].get(parent_key)
            if parent is None:
                continue
            for column in ("households", "eligible", "selected", "persons_selected", "benefit"):
                hidden = [c for c in children if c[column] is None]
                if parent[column] is None or len(hidden) != 1:
                    continue
                value = parent[column] - sum(c[column] for c in children if c[column] is not None)
                found.append(f"{level} {parent_key} {column} = {value}")
    return found


def random_runs(seed: int, n_runs: int = 2) -> pd.DataFrame:
    """Households over a random hierarchy of units, with nested types for ``n_runs`` runs.

    Unit sizes are drawn so that many tehsils and some districts are below k = 10.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(rng.integers(2, 4)):
        for d in range(rng.integers(1, 5)):
            for t in range(rng.integers(1, 5)):
                size = int(
                    rng.choice([rng.integers(1, 10), rng.integers(10, 60), rng.integers(60, 200)])
                )
                rows += [(f"P{p}", f"D{p}{d}", f"T{p}{d}{t}")] * size
    frame = pd.DataFrame(rows, columns=UNIT_KEYS["tehsil"])
    n = len(frame)
    for run in "ab"[:n_runs]:
        considered = rng.random(n) < 0.9
        eligible = considered & (rng.random(n) < rng.uniform(0.5, 0.95))
        selected = eligible & (rng.random(n) < rng.uniform(0.6, 1.0))
        frame[f"considered_{run}"] = considered
        frame[f"eligible_{run}"] = eligible
        frame[f"selected_{run}"] = selected
    return frame
