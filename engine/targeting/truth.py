"""Measure caseloads against the synthetic truth: who is exposed and poor, registered or not.

A registry only shows whom it holds, so a rule's "exposed poor reached" measured on the registry
flatters it: a footprint rule that defines both exposure and eligibility reaches 100% by
construction. The demo population (:func:`rahat.geo.registry.synth.write_demo`) has every
household, registered or not, so the truth can be taken from it:

**Truly exposed poor** (:func:`synthetic_truth`): households of the *population* whose hazard
intensity on the given layer is at least ``min_intensity`` (for the demo: flood depth
>= 0.3 m on the synthetic depth raster ``demo:flood_depth_sindh_2022``, the threshold the
footprint scenario uses) and whose PMT score is at or below the population's 40th percentile
(position ``ceil(0.4 n) - 1``; the generator calibrates it to PMT 32). The generator's PMT
score *is* its welfare measure (a monotone map of the welfare latent, no PMT error), so its
bottom 40% are the truly poor. The population is overlaid with the engine's own
:func:`rahat.engine.overlay.overlay` (same kernels as every run), and the threshold compares in
the layer's own dtype like the rules do (NaN never passes).

For each caseload (:func:`measure`), with S the selected households and T the truth:

* ``truth_reached_share`` = |S ∩ T| / |T|: the share of the truly exposed poor reached;
* ``inclusion_error`` = |S - T| / |S|: selected households that are not exposed and poor;
* ``exclusion_error`` = |T - S| / |T|, of which ``excluded_unregistered`` are outside the
  registry (no registry-based rule can reach them);
* ``people_per_million`` = people in S per million rupees spent, and
  ``truth_people_per_million`` = people in S ∩ T per million rupees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.targeting.caseload import Caseload
from rahat.engine.targeting.money import checked_total
from rahat.geo.hazards import HazardLayer
from rahat.geo.registry.model import Registry

#: Share of the population counted as poor (by PMT score, lowest first).
POOR_SHARE = 0.4

#: Columns of :func:`truth_table`, in order.
COLUMNS = (
    "scenario",
    "amount",
    "selected",
    "people",
    "truth_households",
    "truth_reached",
    "truth_reached_share",
    "inclusion_error",
    "exclusion_error",
    "excluded_unregistered",
    "people_per_million",
    "truth_people_per_million",
)


@dataclass(frozen=True)
class Truth:
    """The truly exposed poor households of a population.

    Attributes
    ----------
    household_id
        Their ids, sorted.
    people
        Their household sizes, aligned with ``household_id``.
    registered
        Whether each is in the registry, aligned with ``household_id``.
    population
        Households in the population.
    poor_bound
        PMT score at the population's 40th percentile (poor: at or below it).
    definition
        One line saying what the truth is.
    """

    household_id: np.ndarray
    people: np.ndarray
    registered: np.ndarray
    population: int
    poor_bound: float
    definition: str

    def __len__(self) -> int:
        return len(self.household_id)


def poor_bound(pmt: np.ndarray, share: float = POOR_SHARE) -> float:
    """Return the PMT score at position ``ceil(share * n) - 1`` of the sorted scores."""
    if len(pmt) == 0:
        return float("nan")
    k = max(int(np.ceil(share * len(pmt))) - 1, 0)
    return float(np.partition(np.asarray(pmt), k)[k])


def synthetic_truth(
    population: Registry,
    hazard: HazardLayer,
    *,
    min_intensity: float,
    registered: np.ndarray | None = None,
    poor_share: float = POOR_SHARE,
) -> Truth:
    """Return the households of ``population`` exposed on ``hazard`` and poor.

    Parameters
    ----------
    population
        Every household, registered or not (``population.parquet`` of the demo).
    hazard
        The hazard layer defining exposure (read with :func:`rahat.geo.hazards.read_hazard`).
    min_intensity
        Exposed: intensity at least this (compared in the layer's dtype; NaN never passes).
    registered
        Whether each household of ``population`` is registered (``None``: all are).
    poor_share
        Share of the population counted as poor, lowest PMT first.
    """
    from rahat.engine.overlay import overlay

    exposure = overlay(population, [hazard])
    intensity = exposure.hazards[hazard.name].intensity
    threshold = np.asarray(min_intensity).astype(intensity.dtype)
    with np.errstate(invalid="ignore"):
        exposed = intensity >= threshold
    pmt = population.array("pmt_score")
    bound = poor_bound(pmt, poor_share)
    mask = exposed & (pmt <= bound)
    ids = population.household_id[mask]
    order = np.argsort(ids, kind="stable")
    reg = (
        np.ones(len(ids), dtype=bool)
        if registered is None
        else np.asarray(registered, dtype=bool)[mask]
    )
    units = f" {hazard.units}" if getattr(hazard, "units", None) else ""
    definition = (
        f"households of the population (registered or not, {len(population):,}) with "
        f"{hazard.name} >= {min_intensity:g}{units} and PMT <= {bound:g} (the population's "
        f"bottom {poor_share:.0%})"
    )
    return Truth(
        household_id=ids[order],
        people=population.array("household_size")[mask][order].astype(np.int64),
        registered=reg[order],
        population=len(population),
        poor_bound=bound,
        definition=definition,
    )


def load_population(path: Path) -> tuple[Registry, np.ndarray]:
    """Read a demo ``population.parquet``: households in spatial order, ``registered`` flags."""
    from rahat.engine.overlay import spatially_sorted
    from rahat.geo.registry.io import read_table
    from rahat.geo.registry.schema import REGISTERED_COLUMN

    frame = read_table(path).to_pandas()
    population = spatially_sorted(Registry.from_frame(frame, source=str(path)))
    return population, population.frame[REGISTERED_COLUMN].to_numpy(dtype=bool)


def measure(truth: Truth, caseload: Caseload | pd.DataFrame, name: str) -> dict[str, Any]:
    """Return the truth metrics of one caseload (module docstring), as a table row."""
    frame = caseload.frame if isinstance(caseload, Caseload) else caseload
    sel = frame["selected"].to_numpy(dtype=bool)
    ids = frame["household_id"].to_numpy(np.int64)[sel]
    size = frame["household_size"].to_numpy(np.int64)[sel]
    amount = checked_total(frame["amount"].to_numpy(np.int64), f"amount of {name}")
    in_truth = np.isin(ids, truth.household_id)
    reached_t = np.isin(truth.household_id, ids)
    n_truth, n_sel = len(truth), len(ids)

    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    def per_million(people: int) -> float | None:
        return people / (amount / 1e6) if amount else None

    reached = int(in_truth.sum())
    return {
        "scenario": name,
        "amount": amount,
        "selected": n_sel,
        "people": int(size.sum()),
        "truth_households": n_truth,
        "truth_reached": reached,
        "truth_reached_share": share(reached, n_truth),
        "inclusion_error": share(n_sel - reached, n_sel),
        "exclusion_error": share(n_truth - int(reached_t.sum()), n_truth),
        "excluded_unregistered": int((~reached_t & ~truth.registered).sum()),
        "people_per_million": per_million(int(size.sum())),
        "truth_people_per_million": per_million(int(size[in_truth].sum())),
    }


def truth_table(truth: Truth, caseloads: list[tuple[str, Caseload | pd.DataFrame]]) -> pd.DataFrame:
    """Return one row of :func:`measure` per ``(name, caseload)``, columns :data:`COLUMNS`."""
    rows = [measure(truth, c, name) for name, c in caseloads]
    return pd.DataFrame(rows, columns=list(COLUMNS))
