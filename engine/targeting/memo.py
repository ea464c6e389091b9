"""Per-registry memo of derived arrays, so that re-evaluating a scenario recomputes nothing.

Policy evaluation derives a few arrays from a registry that do not depend on the scenario's
thresholds: the keyed tie-break hash for a seed, the PMT order within each admin unit, admin
unit look-ups, the national bottom-40 % PMT bound. They are kept here, keyed by the registry
object's identity, and dropped when the registry is garbage-collected.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from rahat.geo.registry.model import Registry

T = TypeVar("T")

_MEMO: dict[int, dict[Hashable, Any]] = {}


def memoised(registry: Registry, key: Hashable, compute: Callable[[], T]) -> T:
    """Return ``compute()``, computed once per ``registry`` object and ``key``.

    Parameters
    ----------
    registry
        The registry the value derives from (identity, not content, is the key: treat a
        registry's frame as read-only).
    key
        What is computed, including every parameter it depends on.
    compute
        Function producing the value.
    """
    ident = id(registry)
    store = _MEMO.get(ident)
    if store is None:
        store = _MEMO[ident] = {}
        weakref.finalize(registry, _MEMO.pop, ident, None)
    if key not in store:
        store[key] = compute()
    value: T = store[key]
    return value
