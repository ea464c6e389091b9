"""Rank order when two keyed hashes collide: the household id settles the tie."""

from __future__ import annotations

import numpy as np

from rahat.engine.targeting.ranking import rank_order


def test_a_hash_collision_falls_back_to_the_household_id() -> None:
    # Two households, equal scores and equal hashes: the lower id comes first.
    order = rank_order(np.array([1.0, 1.0]), np.array([5, 5], np.uint64), np.array([9, 3]))
    assert order.tolist() == [1, 0]
    # Among more, the colliding pair is ordered by id and the rest by score, then hash.
    score = np.array([2.0, 1.0, 1.0, 3.0])
    tiebreak = np.array([7, 5, 5, 1], np.uint64)
    assert rank_order(score, tiebreak, np.array([4, 9, 3, 8])).tolist() == [3, 0, 2, 1]
