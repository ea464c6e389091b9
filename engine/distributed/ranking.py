"""The evaluation's ranking in two phases: each partition on its worker, then one merge.

:func:`~rahat.engine.targeting.evaluate.evaluate` decides which households are considered and
eligible (masks over the registry, and the area-relative ranks within units, which need every
household of a unit), then ranks the eligible households: priority score descending, then the
keyed hash, then the household id (:func:`~rahat.engine.targeting.ranking.rank_order`), and
fills the budget and quotas in that order. The ranking is the costly part, and it splits:

1. **Per partition, on its worker** (:func:`_rank_part`), where the partition's exposure
   already is (:class:`~rahat.engine.distributed.parts.WorkerParts`): the scores of its
   considered households (each depends on its household alone) and its eligible households in
   rank order, with the order's two first keys. This is
   :func:`~rahat.engine.targeting.scored.rank_households` itself, on the partition.
2. **The reduce, here**: the partitions' sorted runs merged by the same three keys
   (:func:`~rahat.engine.kernels.merge.merge_runs`, linear passes), which is the global rank
   order, since a total order restricted to a run is the run's order. The budget and quota
   fill then runs on it unchanged, so the caseload is the single machine's, byte for byte.

What travels: to each worker, its considered households' row numbers and flags (9 bytes a
household); back, a score per considered household and 24 bytes per eligible one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.engine.distributed.cluster import gather_results
from rahat.engine.distributed.parts import WorkerParts
from rahat.engine.distributed.tasks import RETRIES
from rahat.engine.kernels.merge import merge_runs
from rahat.engine.targeting.scored import Ranking

if TYPE_CHECKING:
    from rahat.engine.exposure import Exposure
    from rahat.engine.targeting.scenario import Scenario


@dataclass(frozen=True)
class RankedPart:
    """One partition's ranking, as its worker sends it back.

    Attributes
    ----------
    scores
        Score of each of its considered households.
    ranked
        Positions (among its considered households) of the eligible ones, best first.
    score_keys, hash_keys
        The order's first two keys of the ranked households, in rank order.
    """

    scores: np.ndarray
    ranked: np.ndarray
    score_keys: np.ndarray
    hash_keys: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays."""
        return sum(a.nbytes for a in (self.scores, self.ranked, self.score_keys, self.hash_keys))


def _rank_part(
    part: Exposure,
    scenario: Scenario,
    idx: np.ndarray,
    stale: np.ndarray | None,
    eligible: np.ndarray,
) -> RankedPart:
    """On a worker: rank the considered households ``idx`` (rows of its part)."""
    from rahat.engine.targeting.ranking import descending_keys, keyed_hash
    from rahat.engine.targeting.scored import rank_households

    scores, ranked = rank_households(scenario, part, idx, stale, eligible)
    ids = np.take(part.registry.household_id, idx[ranked])
    return RankedPart(
        scores=scores,
        ranked=ranked,
        score_keys=descending_keys(scores[ranked]),
        hash_keys=keyed_hash(ids, scenario.seed),
    )


def distributed_ranking(client: Any, parts: WorkerParts) -> Ranking:
    """A ranking computed partition by partition on ``client``'s workers, then merged.

    Parameters
    ----------
    client
        The ``distributed.Client`` the parts live on.
    parts
        The exposure's parts (:func:`~rahat.engine.distributed.overlay.overlay_parts`).

    Returns
    -------
    Ranking
        A drop-in for :func:`~rahat.engine.targeting.scored.rank_households` on the exposure
        the parts are of: the same scores and order.
    """

    def rank(
        scenario: Scenario,
        exposure: Exposure,
        idx: np.ndarray,
        stale: np.ndarray | None,
        eligible: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        started = time.perf_counter()
        starts = np.array([start for start, _ in parts.runs], dtype=np.int64)
        cuts = [*np.searchsorted(idx, starts).tolist(), len(idx)]
        futures = []
        for (start, _stop), future, a, b in zip(
            parts.runs, parts.futures, cuts[:-1], cuts[1:], strict=True
        ):
            futures.append(
                client.submit(
                    _rank_part,
                    future,
                    scenario,
                    idx[a:b] - start,
                    None if stale is None else stale[a:b],
                    eligible[a:b],
                    pure=False,
                    retries=RETRIES,
                )
            )
        ranked_parts: list[RankedPart] = gather_results(client, futures, "the ranking")
        ranked_at = time.perf_counter()
        parts.sent(
            "rank_out", idx.nbytes + eligible.nbytes + (0 if stale is None else stale.nbytes)
        )
        parts.sent("rank_back", sum(p.nbytes for p in ranked_parts))
        scores = np.concatenate([p.scores for p in ranked_parts])
        offsets = np.array(cuts[:-1], dtype=np.int64)
        positions = np.concatenate(
            [p.ranked + offset for p, offset in zip(ranked_parts, offsets, strict=True)]
        )
        bounds = np.cumsum([0, *(len(p.ranked) for p in ranked_parts)])
        ids = np.take(exposure.registry.household_id, idx[positions])
        order = merge_runs(
            np.concatenate([p.score_keys for p in ranked_parts]),
            np.concatenate([p.hash_keys for p in ranked_parts]),
            ids,
            bounds,
        )
        parts.timed("rank", ranked_at - started)
        parts.timed("merge", time.perf_counter() - ranked_at)
        return scores, positions[order]

    return rank
