"""``POST /whatif``: a scenario and overrides evaluated at once, answered as suppressed aggregates.

A what-if publishes the figures of two caseloads (the base scenario and its variant) without a
run: no job, no artifact folder, no household row. The figures go through the protections of
run summaries:

* **Small cells.** Both caseloads' aggregates are computed by the very code of run summaries
  (:func:`rahat.api.service.aggregates.compute_aggregates`, on the caseload's columns held in
  memory) and blanked with the same primary and complementary suppression
  (:func:`~rahat.api.service.aggregates.suppression_pattern`) for everyone but admins.
* **Differencing.** Base and variant are two "runs" published together, so the guard of runs
  (:mod:`rahat.api.service.guard`) is applied to them: their household sets (considered,
  eligible, selected with benefit and size) are compared with each other, with the
  organisation's earlier what-ifs in this process (the last :data:`HISTORY` per organisation)
  and with its recent readable runs. When a pair is close (differs by 1 to k-1 households, or
  is unchanged although the deciding inputs differ), the what-if is refused (403
  ``figures-withheld``) and nothing of it is kept. A pmt_cutoff stepped by 0.01 around one
  household is therefore refused, whichever two what-ifs (or what-if and run) are subtracted.
* **Comparison counts.** Households added, dropped and kept are set differences: shown only
  when none of them is in 1..k-1 (else all three are ``null``, as a blanked row).
"""

from __future__ import annotations

import collections
import io
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from rahat.api.service.guard import (
    FiguresWithheldError,
    HouseholdSets,
    RunFacts,
    StoredSets,
    input_fingerprints,
    is_close,
)
from rahat.api.service.schemas import Figures, Level, ScenarioSource
from rahat.api.service.suppression import is_small
from rahat.engine.targeting.scenario_models import MAX_NAME_LENGTH
from rahat.engine.whatif import MAX_KEY_LENGTH, MAX_OVERRIDES, BaseMemo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from rahat.api.service.security import Principal
    from rahat.api.service.settings import Settings
    from rahat.engine.pipeline import ExposureCache, LoadedRegistry
    from rahat.engine.targeting.caseload import Caseload
    from rahat.engine.targeting.scenario import Scenario

#: Earlier what-ifs kept per organisation for the differencing check (in this process).
HISTORY = 16

#: Caseload columns the aggregates read (as ``caseload.parquet`` holds them).
AGGREGATE_COLUMNS: tuple[str, ...] = (
    "province",
    "district",
    "district_pcode",
    "tehsil",
    "tehsil_pcode",
    "selected",
    "eligible",
    "household_size",
    "benefit",
)

OverrideValue = Annotated[str, Field(max_length=MAX_NAME_LENGTH)] | float | int | bool | None


class WhatIfRequest(ScenarioSource):
    """A scenario (inline or by name, as ``POST /runs`` takes it) and overrides to try."""

    overrides: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)], OverrideValue],
        Field(min_length=1, max_length=MAX_OVERRIDES),
    ] = Field(
        description="Parameter -> value: an alias (pmt_cutoff, budget, ...), a hazard rule's "
        "layer, or a dotted path (budget.total); at most 20."
    )
    level: Level = Field(default="district", description="Admin level of the units returned.")


class WhatIfSide(BaseModel):
    """One caseload of a what-if: totals and units, suppressed as run summaries are."""

    totals: Figures
    units: list[Figures]


class WhatIfChanges(BaseModel):
    """Households added, dropped and kept by the variant; ``null`` when one is under k."""

    added: int | None
    dropped: int | None
    kept: int | None
    suppressed: bool


class WhatIfOut(BaseModel):
    """Aggregates of a scenario (``base``) and of it with the overrides (``variant``)."""

    scenario: str
    overrides: dict[str, OverrideValue] = Field(description="Dotted scenario path -> value.")
    level: Level
    k: int | None = Field(description="Suppression threshold applied; null for admins.")
    base: WhatIfSide
    variant: WhatIfSide
    changes: WhatIfChanges


class WhatIfWithheldError(FiguresWithheldError):
    """A what-if is too close to itself, an earlier what-if or a run (403)."""

    def __init__(self, k: int) -> None:
        self.run_id = "whatif"
        Exception.__init__(
            self,
            f"This what-if's figures are withheld: its caseloads differ from each other, from "
            f"an earlier what-if or from a recent run of your organisation by fewer than {k} "
            f"households, which could single out households. Change it so that it differs by "
            f"at least {k} households, or ask an administrator.",
        )


# -- aggregates ---------------------------------------------------------------------------------
def aggregates(caseload: Caseload) -> dict[str, Any]:
    """Unsuppressed aggregates of ``caseload``, as a run summary's are.

    From the caseload's per-household arrays (:mod:`rahat.api.service.whatif_figures`), or,
    for a caseload without them, from its frame by the run summary's own code.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rahat.api.service.aggregates import compute_aggregates
    from rahat.api.service.whatif_figures import aggregates as array_aggregates

    fast = array_aggregates(caseload)
    if fast is not None:
        return fast
    frame = caseload.frame
    columns = [c for c in AGGREGATE_COLUMNS if c in frame.columns]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame[columns], preserve_index=False), buffer)
    source: Any = pa.BufferReader(buffer.getvalue())
    return compute_aggregates(source)


def publish(data: Mapping[str, Any], level: str, k: int | None) -> dict[str, Any]:
    """``data`` as a caller under threshold ``k`` sees it (``None``: all), at ``level``.

    The same view as a run summary's (:func:`rahat.api.service.aggregates.published`).
    """
    from rahat.api.service.aggregates import _view

    view = _view(dict(data), k)
    return {"totals": view["totals"], "units": view["levels"][level]}


def changes(totals: Mapping[str, Any], k: int | None) -> dict[str, Any]:
    """Added, dropped and kept households (all ``null`` when one is in 1..k-1)."""
    counts = {name: int(totals[name]) for name in ("added", "dropped", "kept")}
    hidden = k is not None and any(is_small(v, k) for v in counts.values())
    if hidden:
        return {**dict.fromkeys(counts), "suppressed": True}
    return {**counts, "suppressed": False}


# -- differencing -------------------------------------------------------------------------------
class MemorySets(StoredSets):
    """A caseload's household sets held in memory (the guard's :class:`StoredSets` interface)."""

    def __init__(self, sets: HouseholdSets) -> None:
        self.run_dir = Path()
        self._meta = sets.meta()
        self._arrays = sets.arrays()


def household_sets(caseload: Caseload) -> HouseholdSets:
    """Considered, eligible and selected ids (sorted) with the selected benefit and size."""
    from rahat.api.service.whatif_figures import household_sets as array_sets

    fast = array_sets(caseload)
    if fast is not None:
        return fast
    frame = caseload.frame
    ids = frame["household_id"].to_numpy(np.int64)
    chosen = frame["selected"].to_numpy(bool)
    order = np.argsort(ids[chosen], kind="stable")
    return HouseholdSets(
        considered=np.sort(ids),
        eligible=np.sort(ids[frame["eligible"].to_numpy(bool)]),
        selected=ids[chosen][order],
        selected_benefit=frame["benefit"].to_numpy(np.float64)[chosen][order],
        selected_persons=frame["household_size"].to_numpy(np.int64)[chosen][order],
    )


#: Works out a what-if's figures while the guard compares its households (2: figures, changes).
_FIGURES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rahat-whatif")

_HISTORY: dict[int, collections.deque[RunFacts]] = {}
_HISTORY_LOCK = threading.Lock()


def forget_history() -> None:
    """Drop the remembered what-ifs of every organisation (tests)."""
    with _HISTORY_LOCK:
        _HISTORY.clear()


def _recent_runs(session: Session, settings: Settings, organisation_id: int) -> list[RunFacts]:
    from rahat.api.service.guard import _earlier_runs, _hazard_sha256
    from rahat.api.service.models import Run

    probe = Run(id="whatif", created_by=organisation_id)
    runs = _earlier_runs(session, settings, probe)
    sha = _hazard_sha256(session, {h for r in runs for h in (r.hazards or {}).values()})
    return [
        RunFacts(
            r.id,
            StoredSets(Path(str(r.artifact_dir))),
            input_fingerprints(normalised_scenario(r.scenario or {}), r.hazards or {}, sha),
        )
        for r in runs
    ]


def check_differencing(
    pair: tuple[RunFacts, RunFacts],
    principal: Principal,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    """Refuse (and forget) a what-if whose caseloads are close to each other or to earlier ones.

    Raises
    ------
    WhatIfWithheldError
        When base and variant, or either and an earlier what-if or readable run of the
        organisation, differ by 1 to k-1 households (:func:`rahat.api.service.guard.is_close`).
    """
    k = settings.k_anonymity
    base, variant = pair
    if is_close(variant, base, k):
        raise WhatIfWithheldError(k)
    with sessions() as session:
        runs = _recent_runs(session, settings, principal.organisation_id)
    with _HISTORY_LOCK:
        earlier = list(_HISTORY.get(principal.organisation_id, ()))
        for old in [*earlier, *runs]:
            for new in pair:
                if is_close(new, old, k):
                    raise WhatIfWithheldError(k)
        history = _HISTORY.setdefault(principal.organisation_id, collections.deque(maxlen=HISTORY))
        history.extend(pair)


def facts(name: str, caseload: Caseload, scenario: Scenario) -> RunFacts:
    """What the guard compares of one caseload of a what-if.

    Its inputs are fingerprinted from ``scenario`` as given (a borrowed budget as borrowed, not
    as resolved), in the scenario model's full form, as the organisation's runs are
    (:func:`_recent_runs`): the same scenario is the same input, whichever way it was written.
    """
    given = scenario.model_dump(mode="json")
    return RunFacts(name, MemorySets(household_sets(caseload)), input_fingerprints(given, {}, {}))


def normalised_scenario(stored: Mapping[str, Any]) -> Mapping[str, Any]:
    """A run's stored scenario in the scenario model's full form (as given if it does not load)."""
    from rahat.engine.targeting.scenario import load_scenario
    from rahat.geo.errors import InputError

    try:
        return load_scenario(dict(stored)).model_dump(mode="json")
    except InputError:
        return stored


# -- the request --------------------------------------------------------------------------------
class WhatIfService:
    """The registry and exposure cache shared by every what-if of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registry: tuple[tuple[str, int], LoadedRegistry] | None = None
        self._cache: ExposureCache | None = None
        self._memo = BaseMemo()
        #: The base caseload last published, with its aggregates and guard facts.
        self._base: tuple[weakref.ref[Caseload], str, dict[str, Any], RunFacts] | None = None

    def registry(self, path: Path) -> tuple[LoadedRegistry, ExposureCache]:
        """Return the served registry (loaded once per file version) and its exposure cache."""
        from rahat.engine.pipeline import ExposureCache, load_registry
        from rahat.engine.targeting.scored import load_ranking_kernels

        stamp = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if self._registry is None or self._registry[0] != stamp or self._cache is None:
                self._registry = (stamp, load_registry(path, snapshots=True))
                self._cache = ExposureCache()
                load_ranking_kernels()  # what-ifs repeat: each reuses the ranking before it
            return self._registry[1], self._cache

    def _base_figures(
        self, caseload: Caseload, scenario: Scenario
    ) -> tuple[dict[str, Any], RunFacts]:
        """Aggregates and guard facts of a base caseload (kept for the base last seen)."""
        key = scenario.canonical_json()
        with self._lock:
            kept = self._base
        if kept is not None and kept[0]() is caseload and kept[1] == key:
            return kept[2], kept[3]
        figures, base_facts = aggregates(caseload), facts("base", caseload, scenario)
        with self._lock:
            self._base = (weakref.ref(caseload), key, figures, base_facts)
        return figures, base_facts

    def answer(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        principal: Principal,
        body: WhatIfRequest,
    ) -> dict[str, Any]:
        """Evaluate the what-if of ``body`` and return its published aggregates."""
        from rahat.api.service.scenarios import prepare_scenario
        from rahat.api.service.whatif_figures import selection_changes
        from rahat.engine.targeting.scenario import load_scenario
        from rahat.engine.whatif import variant_of, whatif
        from rahat.geo.errors import ScenarioError

        base = load_scenario(prepare_scenario(settings, body, set()))
        variant, _ = variant_of(base, body.overrides)
        files = ("hazards", "zones")
        if any(getattr(variant, f) != getattr(base, f) for f in files) or (
            variant.eligibility.exclude.assisted_lists != base.eligibility.exclude.assisted_lists
        ):
            raise ScenarioError("overrides cannot name files on the server")
        loaded, cache = self.registry(settings.registry_path)
        result = whatif(
            base,
            body.overrides,
            loaded,
            cache,
            scenarios_dir=settings.scenarios_dir,
            memo=self._memo,
        )
        k = None if principal.is_admin else settings.k_anonymity
        # The variant's figures are summed while the guard compares it (NumPy releases the GIL).
        figures = _FIGURES.submit(aggregates, result.variant)
        moved_soon = _FIGURES.submit(selection_changes, result.base, result.variant)
        try:
            base_figures, base_facts = self._base_figures(result.base, base)
            if k is not None:
                pair = (base_facts, facts("variant", result.variant, variant))
                check_differencing(pair, principal, settings, sessions)
        except BaseException:
            figures.cancel()  # a withheld what-if: its figures are not needed (nor kept)
            moved_soon.cancel()
            raise
        before = publish(base_figures, body.level, k)
        after = publish(figures.result(), body.level, k)
        moved = moved_soon.result()
        shown = changes(result.comparison.totals if moved is None else moved, k)
        if before["totals"]["suppressed"] or after["totals"]["suppressed"]:
            shown = {**dict.fromkeys(("added", "dropped", "kept")), "suppressed": True}
        return {
            "scenario": base.name,
            "overrides": result.overrides,
            "level": body.level,
            "k": k,
            "base": before,
            "variant": after,
            "changes": shown,
        }
