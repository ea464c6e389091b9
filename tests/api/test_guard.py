"""The differencing guard (issue 9, finding 4): runs too close to another run are withheld."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from rahat.api.service import guard
from rahat.api.service.admin import add_organisation
from rahat.api.service.db import (
    add_missing_columns,
    create_schema,
    make_engine,
    make_sessionmaker,
)
from rahat.api.service.guard import (
    SETS_FILE,
    SETS_META_FILE,
    FiguresWithheldError,
    RunFacts,
    RunRateLimitedError,
    StoredSets,
    check_figures_readable,
    household_sets,
    input_fingerprints,
    is_close,
    save_household_sets,
    set_distance,
)
from rahat.api.service.models import Run
from rahat.api.service.problems import install_problem_handlers
from rahat.api.service.security import Principal
from rahat.geo.errors import RahatError

K = 10
AGENCY = Principal(organisation_id=1, organisation="PDMA", role="agency")
PLANNER = Principal(organisation_id=2, organisation="P&D", role="planner")
ADMIN = Principal(organisation_id=3, organisation="NDMA", role="admin")


# -- the comparison ------------------------------------------------------------------------------
def test_set_distance_counts_the_symmetric_difference() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = np.unique(rng.integers(0, 400, rng.integers(0, 300)))
        b = np.unique(rng.integers(0, 400, rng.integers(0, 300)))
        assert set_distance(a, b) == len(np.setxor1d(a, b)) == set_distance(b, a)
    ids = np.array([3, 5, 9], np.int64)
    assert set_distance(ids, ids) == 0
    assert set_distance(ids, ids[:0]) == 3
    # a household in both whose value changed counts once, however many values changed
    values = (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.0]))
    sizes = (np.array([4, 4, 4]), np.array([4, 5, 4]))
    assert set_distance(ids, ids, [values]) == 1
    assert set_distance(ids, ids, [values, sizes]) == 1
    assert set_distance(ids, np.array([3, 5, 10]), [(values[0], values[1])]) == 3


def caseload(ids: np.ndarray, **columns: Any) -> pa.Table:
    n = len(ids)
    data = {
        "household_id": pa.array(ids, pa.int64()),
        "eligible": pa.array(columns.get("eligible", np.ones(n, bool))),
        "selected": pa.array(columns.get("selected", np.ones(n, bool))),
        "benefit": pa.array(columns.get("benefit", np.full(n, 25_000.0))),
        "household_size": pa.array(columns.get("household_size", np.full(n, 5)), pa.int64()),
    }
    return pa.table(data)


def stored(tmp_path: Path, name: str, table: pa.Table, prints: dict[str, str] | None = None):
    folder = tmp_path / name
    folder.mkdir()
    pq.write_table(table, folder / "caseload.parquet")
    save_household_sets(folder)
    return RunFacts(name, StoredSets(folder), prints or dict.fromkeys(guard.SET_NAMES, "same"))


def test_household_sets_read_nulls_duplicates_and_missing_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "household_id": pa.array([7, 3, 7, 5, 1], pa.int64()),
            "eligible": pa.array([True, None, True, False, True]),
            "selected": pa.array([True, True, True, None, False]),
            "benefit": pa.array([10.0, None, 10.0, 0.0, 0.0]),
        }
    )
    pq.write_table(table, tmp_path / "caseload.parquet")
    sets = household_sets(tmp_path / "caseload.parquet")
    assert sets.considered.tolist() == [1, 3, 5, 7]
    assert sets.eligible.tolist() == [1, 7]
    assert sets.selected.tolist() == [3, 7]
    assert sets.selected_benefit.tolist() == [0.0, 10.0]
    assert sets.selected_persons.tolist() == [0, 0]  # no household_size column
    assert all(a.dtype == np.int64 for a in (sets.considered, sets.eligible, sets.selected))
    meta = save_household_sets(tmp_path)
    assert meta["sizes"] == {"considered": 4, "eligible": 2, "selected": 2}
    with np.load(tmp_path / SETS_FILE) as data:
        assert data["selected"].tolist() == [3, 7]
    assert json.loads((tmp_path / SETS_META_FILE).read_text()) == meta
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    ("moved", "close"),
    [(0, False), (1, True), (K - 1, True), (K, False), (K + 5, False)],
)
def test_close_when_one_to_k_minus_one_households_differ(
    tmp_path: Path, moved: int, close: bool
) -> None:
    ids = np.arange(1_000, 1_100, dtype=np.int64)
    old = stored(tmp_path, "old", caseload(ids))
    # ``moved`` households more, in every set
    new = stored(tmp_path, "new", caseload(np.concatenate([ids, np.arange(moved) + 5_000])))
    assert is_close(new, old, K) is close
    assert is_close(old, new, K) is close


@pytest.mark.parametrize("which", ["eligible", "selected", "considered"])
def test_each_published_set_counts(tmp_path: Path, which: str) -> None:
    ids = np.arange(1_000, 1_100, dtype=np.int64)
    base = {"eligible": ids % 2 == 0, "selected": ids % 4 == 0}
    old = stored(tmp_path, "old", caseload(ids, **base))
    if which == "considered":
        # one more household considered, but neither eligible nor selected
        extra = np.append(ids, 9_999)
        new_table = caseload(
            extra,
            eligible=np.append(base["eligible"], False),
            selected=np.append(base["selected"], False),
        )
    else:
        changed = dict(base)
        changed[which] = base[which].copy()
        changed[which][1] = True  # household 1001 (odd) enters the set
        if which == "selected":
            changed["eligible"] = changed["eligible"].copy()
            changed["eligible"][1] = True
        new_table = caseload(ids, **changed)
    new = stored(tmp_path, "new", new_table)
    assert is_close(new, old, K)


def test_a_changed_benefit_or_size_of_one_selected_household_is_close(tmp_path: Path) -> None:
    ids = np.arange(1_000, 1_100, dtype=np.int64)
    old = stored(tmp_path, "old", caseload(ids))
    benefit = np.full(len(ids), 25_000.0)
    benefit[17] = 40_000.0  # a tiny polygon raised one household's hazard class
    assert is_close(stored(tmp_path, "benefit", caseload(ids, benefit=benefit)), old, K)
    size = np.full(len(ids), 5)
    size[3] = 6
    assert is_close(stored(tmp_path, "size", caseload(ids, household_size=size)), old, K)
    # every household's benefit changed: the sums reveal nothing about one household
    everyone = stored(tmp_path, "all", caseload(ids, benefit=np.full(len(ids), 30_000.0)))
    assert not is_close(everyone, old, K)


def test_unchanged_sets_from_other_inputs_are_close_but_reruns_are_not(tmp_path: Path) -> None:
    ids = np.arange(1_000, 1_100, dtype=np.int64)
    table = caseload(ids, eligible=ids % 2 == 0, selected=ids % 2 == 0)
    prints = {"considered": "rules-1", "eligible": "rules-1", "selected": "all-1"}
    old = stored(tmp_path, "old", table, prints)
    # a re-run: same inputs, same sets -> nothing new
    assert not is_close(stored(tmp_path, "rerun", table, dict(prints)), old, K)
    # a tiny polygon that did not move the target: the refusal must look like the one when it
    # did, or the refusal itself answers the attacker's question
    other = {"considered": "rules-2", "eligible": "rules-2", "selected": "all-2"}
    assert is_close(stored(tmp_path, "square", table, other), old, K)
    # only the budget changed and the selected set did not: still close
    budget = {"considered": "rules-1", "eligible": "rules-1", "selected": "all-2"}
    assert is_close(stored(tmp_path, "budget", table, budget), old, K)


def test_a_cutoff_change_that_leaves_the_considered_set_alone_stays_readable(
    tmp_path: Path,
) -> None:
    ids = np.arange(1_000, 1_100, dtype=np.int64)
    prints_a = {"considered": "cut-32", "eligible": "cut-32", "selected": "all-32"}
    prints_b = {"considered": "cut-40", "eligible": "cut-40", "selected": "all-40"}
    old = stored(
        tmp_path, "old", caseload(ids, eligible=ids < 1_030, selected=ids < 1_030), prints_a
    )
    new = stored(
        tmp_path, "new", caseload(ids, eligible=ids < 1_060, selected=ids < 1_060), prints_b
    )
    assert not is_close(new, old, K)


def test_sizes_k_apart_are_decided_without_loading_the_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = np.arange(1_000, 1_100, dtype=np.int64)
    old = stored(tmp_path, "old", caseload(ids))
    new = stored(tmp_path, "new", caseload(ids[: -K - 3]))
    loads: list[str] = []
    original = StoredSets.array

    def counting(self: StoredSets, name: str) -> np.ndarray:
        loads.append(name)
        return original(self, name)

    monkeypatch.setattr(StoredSets, "array", counting)
    assert not is_close(new, old, K)
    assert loads == []
    near = stored(tmp_path, "near", caseload(ids[:-1]))
    assert is_close(near, old, K)
    assert loads  # sizes 1 apart: the ids are compared


def test_input_fingerprints_ignore_names_and_paths_of_uploads() -> None:
    layer = {"name": "flood", "path": "upload", "kind": "flood_extent"}
    scenario = {
        "name": "a",
        "hazards": [layer],
        "eligibility": {"pmt_cutoff": 30},
        "benefit": {"kind": "fixed", "amount": 1},
    }
    sha = {"h1": "f" * 64, "h2": "f" * 64, "h3": "e" * 64}
    base = input_fingerprints(scenario, {"flood": "h1"}, sha)
    named = scenario | {"name": "b", "hazards": [layer | {"path": "/srv/scenarios/upload"}]}
    assert input_fingerprints(named, {"flood": "h2"}, sha) == base  # same file, other upload
    assert input_fingerprints(scenario, {"flood": "h3"}, sha) != base
    richer = scenario | {"benefit": {"kind": "fixed", "amount": 2}}
    changed = input_fingerprints(richer, {"flood": "h1"}, sha)
    assert changed["eligible"] == base["eligible"] and changed["selected"] != base["selected"]
    stricter = scenario | {"eligibility": {"pmt_cutoff": 29}}
    assert input_fingerprints(stricter, {"flood": "h1"}, sha)["eligible"] != base["eligible"]


# -- for the routers -----------------------------------------------------------------------------
def test_check_figures_readable_refuses_all_but_admins() -> None:
    close_to = "c" * 32
    run = Run(id="r" * 32, guard={"withheld": True, "close_to": close_to})
    for who in (AGENCY, PLANNER):
        with pytest.raises(FiguresWithheldError) as info:
            check_figures_readable(run, who, k=K)
        message = str(info.value)
        assert run.id in message and close_to not in message and "fewer than 10" in message
        assert isinstance(info.value, RahatError) and not isinstance(info.value, ValueError)
    check_figures_readable(run, ADMIN, k=K)
    for verdict in (None, {"withheld": False, "close_to": None}):
        check_figures_readable(Run(id="x", guard=verdict), AGENCY)


def test_problem_documents() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/withheld")
    def withheld() -> None:
        raise FiguresWithheldError("abc", K)

    @app.get("/limited")
    def limited() -> None:
        raise RunRateLimitedError(30, 61.2)

    with TestClient(app) as client:
        r = client.get("/withheld")
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:rahat:problem:figures-withheld"
        r = client.get("/limited")
        assert r.status_code == 429 and r.headers["retry-after"] == "62"  # rounded up
        assert r.json()["type"] == "urn:rahat:problem:rate-limited"


def test_create_schema_upgrades_an_old_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    create_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE runs DROP COLUMN guard"))
        connection.execute(text("ALTER TABLE audit_events DROP COLUMN route"))
    assert sorted(add_missing_columns(engine)) == ["audit_events.route", "runs.guard"]
    assert add_missing_columns(engine) == []
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        add_organisation(session, "PDMA", "agency")
        session.add(Run(scenario={}, hazards={}, created_by=1, guard={"withheld": True}))
    with sessions() as session:
        assert session.scalars(select(Run.guard)).one() == {"withheld": True}
    engine.dispose()


@pytest.mark.parametrize("seed", range(6))
def test_a_first_look_at_part_of_two_sets_never_changes_the_verdict(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The distance of two sets' first ids is a lower bound: it may only say "k or more"."""
    from rahat.api.service.guard import HouseholdSets, RunFacts, _distance
    from rahat.api.service.whatif import MemorySets

    monkeypatch.setattr(guard, "PROBE", 16)
    rng = np.random.default_rng(seed)
    k = 10
    base = np.unique(rng.integers(0, 5000, 400))
    variants = [np.concatenate([-np.arange(k - 1, 0, -1), base])]  # k-1 new ids first
    for changes in (0, 1, k - 1, k, 3 * k, 200):
        moved = rng.choice(len(base), size=min(changes, len(base)), replace=False)
        kept = np.delete(base, moved[: changes // 2])
        added = rng.integers(0, 9000, changes - changes // 2)
        variants.append(np.unique(np.concatenate([kept, added])))
    for other in variants:

        def facts(ids: np.ndarray) -> RunFacts:
            sets = HouseholdSets(ids, ids, ids, np.ones(len(ids)), np.ones(len(ids), np.int64))
            return RunFacts("x", MemorySets(sets), {})

        for name in ("considered", "selected"):
            fast = _distance(facts(other), facts(base), name, k)
            exact = guard.set_distance(other, base)
            assert (fast == 0) == (exact == 0) and (0 < fast < k) == (0 < exact < k)
            assert fast == exact or (fast == k and exact >= k)
