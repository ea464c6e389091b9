"""Priority scores and rank order of the considered households, kept between evaluations.

A what-if moves thresholds (PMT cut-off, hazard threshold, budget, benefit, quotas) far more
often than the priority: the households it considers, their scores and their order (score
descending, then the keyed hash, then the id: :func:`~rahat.engine.targeting.ranking.rank_order`)
are then those of the evaluation before, and only which of them are eligible changes. The order
of the eligible households is the order of all considered ones restricted to them (a total order
restricted to a subset is that subset's order), so the order of all considered households is
worked out once and filtered.

The last :data:`KEPT` orders are kept per registry, each for its exposure object, its considered
rows (compared in full, not by a digest) and every scenario field a score depends on.

Ordering all considered households costs more than ordering the eligible ones, so this pays
only when evaluations repeat and the ranking's radix sort is at hand: :func:`rank_households`
keeps orders once the process has numba loaded (a server, a sweep, a run that overlaid), and
before that orders only the eligible households and keeps nothing (a single evaluation).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.engine.targeting.memo import memoised
from rahat.engine.targeting.priority import components, score, weighted
from rahat.engine.targeting.ranking import keyed_hash, rank_order
from rahat.geo.jit import jit_ready

if TYPE_CHECKING:
    from rahat.engine.exposure import Exposure
    from rahat.engine.targeting.scenario import Scenario

#: Orders kept per registry (a what-if's base and its variant).
KEPT = 2

_LOCK = threading.Lock()


#: How an evaluation ranks: ``(scenario, exposure, idx, stale, eligible) -> (scores, ranked)``,
#: as :func:`rank_households` does (a cluster's ranking: :mod:`rahat.engine.distributed.ranking`).
Ranking = Callable[
    ["Scenario", "Exposure", np.ndarray, "np.ndarray | None", np.ndarray],
    tuple[np.ndarray, np.ndarray],
]


@dataclass(frozen=True)
class ScoredOrder:
    """Scores of the considered households and their rank order.

    Attributes
    ----------
    scores
        Final priority score of each considered household (float64, after any down-weighting).
    order
        Positions into the considered households, best first.
    """

    scores: np.ndarray
    order: np.ndarray

    def ranked(self, eligible: np.ndarray) -> np.ndarray:
        """Positions of the ``eligible`` considered households (boolean mask), best first."""
        return self.order[eligible[self.order]]


@dataclass(frozen=True)
class _Entry:
    exposure: weakref.ref[Exposure]
    key: tuple[Any, ...]
    idx: np.ndarray
    value: ScoredOrder


def _scores(
    scenario: Scenario, exposure: Exposure, idx: np.ndarray, stale: np.ndarray | None
) -> np.ndarray:
    """Final priority scores of the households ``idx`` (after any down-weighting)."""
    scores = score(scenario, components(scenario, exposure, idx, weighted(scenario)), len(idx))
    option = scenario.stale_records
    if stale is not None and option is not None and option.action == "down_weight":
        assert option.weight is not None  # the scenario checks require it
        scores = np.where(stale, scores * option.weight, scores)
    return scores


def rank_households(
    scenario: Scenario,
    exposure: Exposure,
    idx: np.ndarray,
    stale: np.ndarray | None,
    eligible: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the considered households ``idx`` and the positions of the eligible, best first.

    Parameters
    ----------
    scenario, exposure, idx, stale
        As for :func:`scored_order`.
    eligible
        Whether each considered household is eligible.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The scores (float64, one per considered household) and the eligible households'
        positions among them in rank order.
    """
    if jit_ready():
        kept = scored_order(scenario, exposure, idx, stale)
        return kept.scores, kept.ranked(eligible)
    scores = _scores(scenario, exposure, idx, stale)
    positions = np.flatnonzero(eligible)
    hid = np.take(exposure.registry.household_id, idx[positions])
    order = rank_order(scores[positions], keyed_hash(hid, scenario.seed), hid)
    return scores, positions[order]


def _score_key(scenario: Scenario) -> tuple[Any, ...]:
    """Every scenario field the scores or the order depend on."""
    stale = scenario.stale_records
    return (
        scenario.seed,
        scenario.priority.model_dump_json(),
        scenario.severity_layer(),
        None if stale is None else stale.model_dump_json(),
    )


def scored_order(
    scenario: Scenario, exposure: Exposure, idx: np.ndarray, stale: np.ndarray | None
) -> ScoredOrder:
    """Return the scores and rank order of the considered households ``idx`` (registry rows).

    Parameters
    ----------
    scenario
        The scenario (its priority, seed and stale-records option are used).
    exposure
        The overlay the scenario is evaluated on.
    idx
        Registry rows of the considered households (ascending).
    stale
        Whether each considered household's record is stale (``None``: the scenario has no
        ``stale_records`` option); a ``down_weight`` option multiplies their scores.
    """
    key = _score_key(scenario)
    kept: list[_Entry] = memoised(exposure.registry, ("scored_order",), list)
    with _LOCK:
        for entry in kept:
            if entry.key == key and entry.exposure() is exposure and np.array_equal(entry.idx, idx):
                return entry.value
    scores = _scores(scenario, exposure, idx, stale)
    hid = np.take(exposure.registry.household_id, idx)
    value = ScoredOrder(scores, rank_order(scores, keyed_hash(hid, scenario.seed), hid))
    with _LOCK:
        kept.insert(0, _Entry(weakref.ref(exposure), key, idx.copy(), value))
        del kept[KEPT:]
    return value


def load_ranking_kernels() -> None:
    """Load numba and the ranking and budget-fill kernels now, so evaluations reuse orders.

    For a process that evaluates many times on one exposure (the API's what-ifs, a sweep): it
    pays numba's start-up (about 0.7 s) once, up front, instead of ranking every evaluation
    with NumPy (:func:`rank_households`).
    """
    from rahat.engine.kernels.fill import fill_quotas
    from rahat.engine.kernels.sorting import radix_argsort

    one = np.ones(1, dtype=np.int64)
    radix_argsort(one.view(np.uint64))
    fill_quotas(one * 0, one, one, one)
