"""Deterministic, ungameable ordering: score descending, then a keyed hash of the household id.

Ties in the priority score are broken by ``splitmix64(household_id XOR key)``, where ``key`` is
derived from the scenario ``seed`` (``splitmix64(seed XOR 0x5241484154)``; the constant spells
"RAHAT"). The order is reproducible (same seed, same order on every machine) and cannot be
gamed by choosing ids: consecutive or low ids are scattered uniformly. The household id itself
is the last key, so the order is total even in the (astronomically unlikely) event of a hash
collision.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_KEY_SALT = 0x5241484154  # "RAHAT"


def splitmix64(values: np.ndarray) -> np.ndarray:
    """Return the splitmix64 finaliser of every element (uint64, wrapping arithmetic).

    Parameters
    ----------
    values
        Integer array (any 64-bit integer dtype; reinterpreted as uint64).
    """
    z = np.asarray(values).astype(np.uint64, copy=True)
    z += _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _MUL1
    z ^= z >> np.uint64(27)
    z *= _MUL2
    z ^= z >> np.uint64(31)
    return z


def scenario_key(seed: int) -> np.uint64:
    """Return the 64-bit hash key derived from a scenario seed."""
    mixed = splitmix64(np.array([(seed ^ _KEY_SALT) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    return np.uint64(mixed[0])


def keyed_hash(household_id: np.ndarray, seed: int) -> np.ndarray:
    """Return ``splitmix64(household_id XOR scenario_key(seed))`` for every household (uint64)."""
    ids = np.asarray(household_id, dtype=np.int64).view(np.uint64)
    return splitmix64(ids ^ scenario_key(seed))


def descending_keys(score: np.ndarray) -> np.ndarray:
    """Return uint64 keys whose ascending order is ``score``'s descending order.

    The IEEE 754 bits of a float64, with the sign bit flipped for positive values and all bits
    flipped for negative ones, sort as the numbers do; complemented, they sort in reverse.
    ``-0.0`` is read as ``0.0`` (the two are one score). NaN is not allowed.
    """
    bits = (np.asarray(score, dtype=np.float64) + 0.0).view(np.uint64)  # -0.0 + 0.0 is 0.0
    negative = (bits >> np.uint64(63)).astype(bool)
    ascending = np.where(negative, ~bits, bits | np.uint64(1 << 63))
    return ~ascending


def rank_order(score: np.ndarray, tiebreak: np.ndarray, household_id: np.ndarray) -> np.ndarray:
    """Return the positions that sort households by score desc, then tiebreak asc, then id asc.

    Equal to ``np.lexsort((household_id, tiebreak, -score))``, by two stable sorts: by the
    hash, then by the score. They are radix sorts
    (:func:`rahat.engine.kernels.sorting.radix_argsort`, about five times faster) once the
    process has numba loaded (:func:`rahat.geo.jit.jit_ready`), NumPy's merge
    sorts before (loading numba for them alone would cost more than it saves).

    Parameters
    ----------
    score
        Priority score (float64; NaN is not allowed).
    tiebreak
        Keyed hash from :func:`keyed_hash`.
    household_id
        Household ids (the final key).
    """
    from rahat.engine.kernels.sorting import radix_argsort
    from rahat.geo.jit import jit_ready

    fast = jit_ready()
    hashes = np.asarray(tiebreak, dtype=np.uint64)
    by_hash = radix_argsort(hashes) if fast else np.argsort(hashes, kind="stable")
    ordered = hashes[by_hash]
    if len(ordered) > 1 and np.any(ordered[1:] == ordered[:-1]):  # a hash collision: full sort
        neg_score = -np.asarray(score, dtype=np.float64)
        return np.lexsort((household_id, tiebreak, neg_score))
    keys = descending_keys(score)
    if fast:
        return radix_argsort(keys, by_hash)
    return by_hash[np.argsort(keys[by_hash], kind="stable")]
