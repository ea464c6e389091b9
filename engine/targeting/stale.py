"""Stale registry records: not updated for more than N years at the registry's latest update.

One rule for the whole of Rahat: a record is **stale** when its ``last_updated`` date lies
more than ``years`` x 365.25 days before the reference date, which is the latest
``last_updated`` of the registry (so the same registry gives the same answer whenever it is
run) unless a date is given. Records without a date (or a registry without the column) are
never stale. The coverage-gap table (:func:`rahat.engine.gap.estimate.stale_records`) and the
targeting option ``stale_records`` (:mod:`rahat.engine.targeting.scenario_models`) both count
with :func:`stale_mask`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.targeting.memo import memoised
from rahat.geo.registry.model import Registry

#: Days of a year in the age rule.
DAYS_PER_YEAR = 365.25

#: Registry column holding each record's last update.
UPDATED_COLUMN = "last_updated"


def update_dates(values: Any) -> np.ndarray:
    """``values`` (dates, datetimes or ISO texts) as ``datetime64[s]`` (NaT where missing)."""
    return np.asarray(pd.to_datetime(pd.Series(values)).to_numpy("datetime64[s]"))


def stale_mask(
    updated: np.ndarray, years: float, as_of: date | np.datetime64 | None = None
) -> np.ndarray:
    """Whether each record is older than ``years`` at ``as_of``.

    Parameters
    ----------
    updated
        Last update of each record, ``datetime64`` (:func:`update_dates`); NaT: unknown.
    years
        Age in years beyond which a record is stale.
    as_of
        Reference date; default the latest known ``updated`` not in the future
        (:func:`latest_update`).

    Returns
    -------
    numpy.ndarray
        Bool per record; records with no date are never stale.
    """
    updated = np.asarray(updated).astype("datetime64[s]")
    known = ~np.isnat(updated)
    if as_of is not None:
        reference = np.asarray(as_of).astype("datetime64[s]")
    else:
        latest = latest_update(updated)
        if latest is None:
            return np.zeros(len(updated), dtype=bool)
        reference = np.asarray(latest).astype("datetime64[s]")
    age_days = (reference - updated).astype("timedelta64[s]").astype(np.float64) / 86_400
    return known & (age_days > years * DAYS_PER_YEAR)


def latest_update(updated: np.ndarray) -> np.datetime64 | None:
    """The latest update date that is not in the future (``None``: none known).

    A date after today is a typo or a clock error, not an update: taken as the registry's date,
    one such record would make every other record look old.
    """
    updated = np.asarray(updated).astype("datetime64[s]")
    today = np.datetime64(date.today(), "s") + np.timedelta64(1, "D")
    plausible = updated[~np.isnat(updated) & (updated < today)]
    return plausible.max() if len(plausible) else None


@dataclass(frozen=True)
class StaleRecords:
    """The stale records of one registry for one age.

    Attributes
    ----------
    stale
        Bool per registry row.
    updated
        ``last_updated`` per registry row (``datetime64[D]``; NaT where unknown).
    as_of
        The reference date (``None``: the registry has no dated record).
    has_dates
        Whether the registry has a ``last_updated`` column.
    """

    stale: np.ndarray
    updated: np.ndarray
    as_of: np.datetime64 | None
    has_dates: bool


def registry_stale(registry: Registry, years: float) -> StaleRecords:
    """The stale records of ``registry`` (:func:`stale_mask`), once per registry and age."""

    def compute() -> StaleRecords:
        n = len(registry)
        if UPDATED_COLUMN not in registry.frame.columns:
            nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
            return StaleRecords(np.zeros(n, dtype=bool), nat, None, False)
        exact = update_dates(registry.frame[UPDATED_COLUMN])
        updated = exact.astype("datetime64[D]")
        latest = latest_update(exact)
        as_of = None if latest is None else latest.astype("datetime64[D]")
        return StaleRecords(stale_mask(exact, years), updated, as_of, True)

    return memoised(registry, ("stale", float(years)), compute)


def years_text(years: float) -> str:
    """``5 years``, ``1 year``, ``2.5 years``."""
    return f"{years:g} year" + ("" if years == 1 else "s")


def stale_label(years: float) -> str:
    """Label of the ``exclude`` gate in the reasons: ``record<=5y``."""
    return f"record<={years:g}y"


def stale_texts(
    updated: np.ndarray, years: float, suffix: str = ""
) -> tuple[np.ndarray, list[str]]:
    """``stale record (not updated for more than N years)`` per record, coded.

    The text names the age limit, not the record's own ``last_updated``: the reasons travel
    with a household to whoever may read its row (an NGO's agreement grants fields, and the
    update date is none of them).

    Parameters
    ----------
    updated
        ``datetime64[D]`` of each (stale) record.
    years
        The scenario's age limit.
    suffix
        Appended to every text (``, priority x0.5``).

    Returns
    -------
    tuple
        ``(codes, texts)``: one text, every record coded 0.
    """
    text = f"stale record (not updated for more than {years_text(years)}){suffix}"
    return np.zeros(len(np.asarray(updated)), dtype=np.int64), [text]
