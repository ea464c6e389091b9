"""The rows of a caseload: its per-household arrays, turned into columns for any run of rows.

:func:`~rahat.engine.targeting.evaluate.evaluate` leaves one array per quantity over the
*considered* households (registry positions ``idx``, rank, selection, scores, decisions). The
caseload's columns (:mod:`rahat.engine.targeting.caseload`) are built from them on demand, for
all rows or for any run of rows in file order (rank order, then the others by household id),
so a national caseload of millions of rows can be written slice by slice, the GeoPackage of the
selected households from their rows alone, and a comparison from a few columns. A slice's
columns are exactly the rows of the whole caseload's: every value, the ``reasons`` text
included, depends only on its household.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.caseload import (
    CORE_COLUMNS,
    DECISIONS,
    REGISTRY_FIELDS,
    ZONE_COLUMNS,
    ZONE_FIELD_SUFFIX,
)
from rahat.engine.targeting.explain import Coded, failure_causes
from rahat.engine.targeting.priority import COMPONENTS, components
from rahat.engine.targeting.reasons import budget_causes, decision_causes, reasons_column
from rahat.engine.targeting.rules import RuleSet
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.stale import registry_stale, stale_texts

_CUT_BUDGET = DECISIONS.index("cut_budget")


def registry_column(exposure: Exposure, name: str, rows: np.ndarray) -> Any:
    """Registry column ``name`` at registry positions ``rows`` (categoricals stay categorical)."""
    column = exposure.registry.frame[name]
    values = np.take(exposure.registry.array(name), rows)  # np.take releases the GIL
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(values, dtype=column.dtype)
    return values


def zone_column(exposure: Exposure, layer: str, rows: np.ndarray) -> Any:
    """Zone name per household at ``rows`` (categorical; missing where in no zone or no layer)."""
    zone = exposure.zones.get(layer)
    if zone is None:
        return pd.Categorical.from_codes(np.full(len(rows), -1), categories=pd.Index([]))
    names = zone.table["name"].astype(str).to_numpy(dtype=object)
    categories = sorted(set(names))
    position = {n: i for i, n in enumerate(categories)}
    lookup = np.array([position[n] for n in names] + [-1], dtype=np.int64)
    codes = np.take(lookup, np.take(zone.codes, rows))
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))


@dataclass
class CaseloadRows:
    """Per considered household (position ``i`` of ``idx``): everything its row holds.

    Attributes
    ----------
    scenario, exposure, rules
        What was evaluated.
    idx
        Registry position of each considered household (ascending).
    ranked
        Positions (in ``idx``) of the eligible households, in rank order.
    eligible, exposed, bottom40, selected
        Flags per considered household.
    rank
        1-based rank (0 for a household that is not eligible).
    scores
        Priority score (its components are computed for the rows asked for).
    entitled, amount
        Benefit (0 if not eligible) and amount paid (0 if not selected).
    decision
        Code into :data:`~rahat.engine.targeting.caseload.DECISIONS`.
    quota_unit
        Index into ``unit_labels`` of the quota unit of each ranked household.
    unit_labels
        Labels of the quota units (P-code, else name), then ``(unknown unit)``.
    with_quotas
        Whether the scenario has quotas.
    score_at_cut
        Score of the last selected household (``None`` when nobody is).
    stale
        Whether each record is stale (``stale_records``; ``None``: the scenario has no such
        option): the ``stale_record`` column, and for ``flag`` and ``down_weight`` a part of
        the reasons (``stale record (not updated for more than 5 years)``).
    """

    scenario: Scenario
    exposure: Exposure
    rules: RuleSet
    idx: np.ndarray
    ranked: np.ndarray
    eligible: np.ndarray
    exposed: np.ndarray
    bottom40: np.ndarray
    selected: np.ndarray
    rank: np.ndarray
    scores: np.ndarray
    entitled: np.ndarray
    amount: np.ndarray
    decision: np.ndarray
    quota_unit: np.ndarray
    unit_labels: list[str]
    with_quotas: bool
    score_at_cut: float | None
    stale: np.ndarray | None = None
    _order: np.ndarray | None = field(default=None, repr=False)

    def positions(self, *, selected_only: bool = False) -> np.ndarray:
        """Positions (in ``idx``) of the rows in file order: eligible by rank, then by id.

        With ``selected_only``, the selected households alone, in the same order.
        """
        if selected_only:
            return self.ranked[self.selected[self.ranked]]
        if self._order is None:
            others = np.flatnonzero(~self.eligible)
            ids = np.take(self.exposure.registry.household_id, np.take(self.idx, others))
            others = others[np.argsort(ids, kind="stable")]
            self._order = np.concatenate([self.ranked, others])
        return self._order

    def core(self) -> pd.DataFrame:
        """The :data:`~rahat.engine.targeting.caseload.CORE_COLUMNS` of every row."""
        columns = self.columns(self.positions(), names=CORE_COLUMNS, threads=1)
        return pd.DataFrame({name: columns[name] for name in CORE_COLUMNS})

    def column_names(self) -> list[str]:
        """Names of the caseload's columns, in file order (nothing is built)."""
        return list(self._jobs(np.zeros(0, dtype=np.int64)))

    def columns(
        self, row: np.ndarray, *, names: Collection[str] | None = None, threads: int = 2
    ) -> dict[str, Any]:
        """The caseload's columns (file order of :data:`CASELOAD_FIELDS` and the layers).

        Parameters
        ----------
        row
            Positions (in ``idx``) of the rows wanted, in the order wanted.
        names
            Only these columns (default: all of them).
        threads
            Columns built side by side (the gathers and Arrow kernels release the GIL).
        """
        jobs = self._jobs(np.asarray(row, dtype=np.int64))
        if names is not None:
            jobs = {name: job for name, job in jobs.items() if name in names}
        if threads <= 1 or len(jobs) <= 1:
            return {name: job() for name, job in jobs.items()}
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rahat-columns") as pool:
            # the reasons first: the longest job
            order = sorted(jobs, key=lambda name: name != "reasons")
            futures = {name: pool.submit(jobs[name]) for name in order}
            return {name: futures[name].result() for name in jobs}

    def _jobs(self, row: np.ndarray) -> dict[str, Callable[[], Any]]:
        """One function per column, building it for the rows at positions ``row``."""
        exposure, scenario = self.exposure, self.scenario
        rows = np.take(self.idx, row)  # registry positions

        def take(values: np.ndarray, where: np.ndarray = row) -> Callable[[], np.ndarray]:
            return lambda: np.take(values, where)

        def rank_column() -> Any:
            ranks = pd.array(np.take(self.rank, row), dtype="Int64")
            ranks[~np.take(self.eligible, row)] = pd.NA
            return ranks

        def decision_column() -> Any:
            codes = np.take(self.decision, row)
            return pd.Categorical.from_codes(codes, categories=pd.Index(list(DECISIONS)))

        def class_column(layer: Any) -> Callable[[], Any]:
            def build() -> Any:
                codes = np.take(layer.hazard_class, rows).astype(np.int64)
                labels = pd.Index(list(layer.class_labels))
                return pd.Categorical.from_codes(np.where(codes >= 0, codes, -1), categories=labels)

            return build

        jobs: dict[str, Callable[[], Any]] = {
            "household_id": take(exposure.registry.household_id, rows),
            "rank": rank_column,
            "selected": take(self.selected),
            "eligible": take(self.eligible),
            "exposed": take(self.exposed),
            "bottom40": take(self.bottom40),
        }
        if self.stale is not None:
            jobs["stale_record"] = take(self.stale)
        jobs["score"] = take(self.scores)
        for name in COMPONENTS:
            jobs[f"score_{name}"] = partial(self._component, name, rows)
        jobs["benefit"] = take(self.entitled)
        jobs["amount"] = take(self.amount)
        jobs["decision"] = decision_column
        jobs["reasons"] = lambda: self._reasons(row)
        for name in REGISTRY_FIELDS:
            if name in exposure.registry.frame.columns:
                jobs[name] = partial(registry_column, exposure, name, rows)
        for spec in scenario.hazards:
            layer = exposure.hazards.get(spec.name)
            if layer is not None:
                jobs[f"{spec.name}_intensity"] = take(layer.intensity, rows)
                jobs[f"{spec.name}_class"] = class_column(layer)
        for name, zone_name in ZONE_COLUMNS.items():
            jobs[name] = partial(zone_column, exposure, zone_name, rows)
        for zspec in scenario.zones:
            jobs[f"{zspec.name}{ZONE_FIELD_SUFFIX}"] = partial(
                zone_column, exposure, zspec.name, rows
            )
        return jobs

    def _component(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Priority component ``name`` of the households at registry positions ``rows``."""
        return components(self.scenario, self.exposure, rows, (name,))[name]

    def _reasons(self, row: np.ndarray) -> Any:
        """The ``reasons`` text of the rows at positions ``row``."""
        decision = np.take(self.decision, row)
        not_eligible = row[~np.take(self.eligible, row)]  # in row order, as decision_causes wants
        failed = failure_causes(
            self.scenario, self.exposure, self.rules, np.take(self.idx, not_eligible)
        )
        causes = decision_causes(
            decision, np.take(self.quota_unit, row), self.unit_labels, self.with_quotas, failed
        )
        cut_rows = np.flatnonzero(decision == _CUT_BUDGET)
        cut = row[cut_rows]
        texts = budget_causes(np.take(self.rank, cut), np.take(self.scores, cut), self.score_at_cut)
        rows = np.take(self.idx, row)
        return reasons_column(self.rules, rows, causes, cut_rows, texts, self._stale_notes(row))

    def _stale_notes(self, row: np.ndarray) -> Coded | None:
        """The stale-record part of the reasons of the rows at ``row`` (``None``: none)."""
        option = self.scenario.stale_records
        if self.stale is None or option is None or option.action == "exclude":
            return None  # excluded records: the failing gate says it (explain.failure_causes)
        flagged = np.flatnonzero(np.take(self.stale, row))
        years = option.older_than_years
        updated = registry_stale(self.exposure.registry, years).updated
        suffix = f", priority x{option.weight:g}" if option.action == "down_weight" else ""
        codes, texts = stale_texts(updated[np.take(self.idx, row[flagged])], years, suffix)
        out = np.zeros(len(row), dtype=np.int64)
        out[flagged] = codes + 1
        return out, ["", *texts]
