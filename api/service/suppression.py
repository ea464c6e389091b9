"""Small-cell suppression that survives differencing: primary and complementary suppression.

Published figures add up: a district's households are the sum of its tehsils', the country's
the sum of its provinces'. Blanking a small cell alone is therefore useless: parent minus the
visible children gives it back. This module blanks whole rows (every figure of a unit) and then
adds *complementary* suppressions until no blanked figure can be computed from the others.

The hierarchy is a tree of rows (the national row at the root). Each internal row ``p`` gives
one equation per figure, ``p = sum(children of p)``: its *family* is ``p`` and its children. The
rule applied until nothing changes is:

    **no family has exactly one blanked row.**

Why this is enough: take the figures as unknowns of the family equations. Each figure appears
in at most two equations (as a child and as a parent), so the equations are the conservation
laws of a graph whose edges are the figures (a leaf's and the root's second end is one common
outside node). Values of blanked figures are then fixed only up to circulations on cycles of
blanked edges, and a blanked edge is determined exactly iff it lies on no such cycle. Because
the rows form a tree, the rule (every family node meets 0 or at least 2 blanked edges) leaves no
blanked edge off a cycle, so none can be computed (``tests/api/test_privacy_suppression.py``
checks this with a linear-programming attacker over all levels, columns and runs).

A blanked row is chosen as complement by the fewest households, among the non-blanked children
of the family (all of which describe at least k households), and the parent when no child is
left, so that the blanked figures of a family always add up to at least k households.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def is_small(value: float | None, k: int) -> bool:
    """Whether a count describes between 1 and ``k - 1`` households."""
    return value is not None and 0 < abs(value) < k


def row_is_sensitive(row: Mapping[str, float | None], counts: Sequence[str], k: int) -> bool:
    """Whether a row shows, or lets one compute by subtraction, a count in ``1..k-1``.

    ``counts`` are nested counts of the same households (for example households, eligible,
    selected); the differences of consecutive ones are counts too (the households considered
    but not eligible, the eligible but not selected) and are checked like the counts.
    """
    values = [row.get(name) for name in counts]
    if any(is_small(v, k) for v in values):
        return True
    return any(
        a is not None and b is not None and is_small(a - b, k)
        for a, b in itertools.pairwise(values)
    )


def complete_suppression(
    parent: Sequence[int], size: Sequence[float], primary: Iterable[bool]
) -> np.ndarray:
    """Add complementary suppressions until no family has exactly one blanked row.

    Parameters
    ----------
    parent
        Index of each row's parent row; ``-1`` for the root.
    size
        Households of each row, used to pick the cheapest complement.
    primary
        Rows blanked because they are sensitive themselves.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the blanked rows (``primary`` included). Deterministic: ties go to the
        lower row index.
    """
    blanked = np.array(list(primary), dtype=bool)
    children: dict[int, list[int]] = {}
    for row, up in enumerate(parent):
        if up >= 0:
            children.setdefault(int(up), []).append(row)
    changed = True
    while changed:
        changed = False
        for up, kids in children.items():
            members = [up, *kids]
            if int(blanked[members].sum()) != 1:
                continue
            free = [c for c in kids if not blanked[c]]
            pick = min(free, key=lambda c: (size[c], c)) if free else up
            blanked[pick] = True
            changed = True
    return blanked
