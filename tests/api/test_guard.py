"""The differencing guard (issue 9, finding 4): runs too close to another run are withheld."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import backends, caseload_table, make_settings, start_service
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

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
    check_run_rate,
    household_sets,
    input_fingerprints,
    is_close,
    save_household_sets,
    set_distance,
)
from rahat.api.service.jobs import JobManager
from rahat.api.service.models import Run, utcnow
from rahat.api.service.problems import install_problem_handlers
from rahat.api.service.security import Principal
from rahat.api.service.settings import Settings
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


# -- the job manager -----------------------------------------------------------------------------
@pytest.fixture(params=backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Any]]:
    settings = make_settings(tmp_path, request.param, k_anonymity=K)
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        for principal in (AGENCY, PLANNER, ADMIN):
            org = add_organisation(session, principal.organisation, principal.role)
            assert org.id == principal.organisation_id
    yield settings, sessions
    engine.dispose()


def stub_runner(scenario: dict[str, Any], *, out_dir: Path, **_: Any) -> dict[str, Any]:
    """Write the test caseload without the households named by ``scenario['drop']``."""
    table = caseload_table()
    drop = set(scenario.get("drop", []))
    keep = [i not in drop for i in range(table.num_rows)]
    table = table.filter(pa.array(keep))
    pq.write_table(table, out_dir / "caseload.parquet")
    return {"selected": sum(table["selected"].to_pylist())}


class Runs:
    """Submit stub runs through a started :class:`JobManager` and read their verdicts."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], runner: Any) -> None:
        self.settings, self.sessions = settings, sessions
        self.jobs = JobManager(settings, sessions, runner=runner)

    def submit(self, who: Principal, drop: list[int] | None = None, **scenario: Any) -> str:
        with self.sessions() as session, session.begin():
            run = Run(
                scenario={"name": "stub", "drop": drop or [], **scenario},
                hazards={},
                status="queued",
                created_by=who.organisation_id,
            )
            session.add(run)
            session.flush()
            run_id = run.id
        self.jobs.submit(run_id)
        return run_id

    def run(self, who: Principal, drop: list[int] | None = None, **scenario: Any) -> str:
        run_id = self.submit(who, drop, **scenario)
        self.jobs.wait(run_id, timeout=60)
        return run_id

    def get(self, run_id: str) -> Run:
        with self.sessions() as session:
            run = session.get(Run, run_id)
            assert run is not None and run.status == "succeeded", run and run.error
            return run


@pytest.fixture
def runs(db: tuple[Settings, Any]) -> Iterator[Runs]:
    settings, sessions = db
    manager = Runs(settings, sessions, stub_runner)
    manager.jobs.start()
    yield manager
    manager.jobs.stop()


def test_a_run_one_household_from_an_earlier_one_is_withheld(runs: Runs) -> None:
    first = runs.run(AGENCY)
    assert runs.get(first).guard == {"withheld": False, "close_to": None, "compared": 0}
    assert (Path(runs.get(first).artifact_dir or "") / SETS_FILE).is_file()
    second = runs.run(AGENCY, drop=[5])
    assert runs.get(second).guard == {"withheld": True, "close_to": first, "compared": 1}
    # the same inputs again: identical sets, nothing new, readable
    assert runs.get(runs.run(AGENCY)).guard["withheld"] is False
    # another organisation cannot read the agency's runs: compared only with its own
    planner = runs.run(PLANNER, drop=[6])
    assert runs.get(planner).guard == {"withheld": False, "close_to": None, "compared": 0}
    assert runs.get(runs.run(PLANNER, drop=[6, 7])).guard["close_to"] == planner
    # far from every readable run (many households apart): readable
    far = runs.run(AGENCY, drop=list(range(0, 150, 3)))
    assert runs.get(far).guard["withheld"] is False


def test_scope_all_compares_runs_of_every_organisation(db: tuple[Settings, Any]) -> None:
    settings, sessions = db
    manager = Runs(settings.model_copy(update={"guard_scope": "all"}), sessions, stub_runner)
    manager.jobs.start()
    try:
        first = manager.run(AGENCY)
        assert manager.get(manager.run(PLANNER, drop=[5])).guard["close_to"] == first
        assert manager.get(manager.run(ADMIN, drop=[6])).guard["close_to"] == first
    finally:
        manager.jobs.stop()


def test_withheld_and_old_runs_are_not_compared_and_the_window_is_bounded(runs: Runs) -> None:
    runs.run(AGENCY)
    second = runs.run(AGENCY, drop=[5])
    assert runs.get(second).guard["withheld"]
    # close only to the withheld run (whose figures nobody reads), k apart from the first
    third = runs.run(AGENCY, drop=[5, *range(20, 40)])
    fourth = runs.run(AGENCY, drop=[5, 6, *range(20, 40)])
    assert runs.get(third).guard["withheld"] is False
    assert runs.get(fourth).guard["close_to"] == third
    # runs finished before the window are not compared
    with runs.sessions() as session, session.begin():
        old = utcnow() - dt.timedelta(days=runs.settings.guard_window_days + 1)
        session.execute(update(Run).where(Run.id.in_([third])).values(finished_at=old))
    assert runs.get(runs.run(AGENCY, drop=[5, 7, *range(20, 40)])).guard["withheld"] is False
    # at most guard_window_runs readable runs are compared, newest first
    runs.settings.guard_window_runs = 1
    latest = runs.run(AGENCY, drop=list(range(60, 100)))
    assert runs.get(latest).guard["compared"] == 1
    assert runs.get(runs.run(AGENCY, drop=[8])).guard["withheld"] is False  # first not reached
    runs.settings.guard_window_runs = 200
    assert runs.get(runs.run(AGENCY, drop=[8, 9])).guard["withheld"] is True


def test_runs_from_before_the_guard_are_compared_from_their_caseload(runs: Runs) -> None:
    with runs.sessions() as session, session.begin():
        legacy = Run(
            scenario={"name": "stub", "drop": []},
            hazards={},
            status="succeeded",
            created_by=AGENCY.organisation_id,
            finished_at=utcnow(),
        )
        session.add(legacy)
        session.flush()
        folder = runs.settings.runs_dir / legacy.id
        folder.mkdir(parents=True)
        pq.write_table(caseload_table(), folder / "caseload.parquet")
        legacy.artifact_dir = str(folder)
        legacy_id = legacy.id
    assert runs.get(legacy_id).guard is None
    assert runs.get(runs.run(AGENCY, drop=[3])).guard["close_to"] == legacy_id
    assert (folder / SETS_FILE).is_file()


def test_a_failing_check_withholds_the_run(
    runs: Runs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any) -> dict[str, Any]:
        raise OSError("disk gone")

    monkeypatch.setattr(guard, "guard_run", broken)
    run = runs.get(runs.run(AGENCY))
    assert run.guard is not None and run.guard["withheld"] is True
    assert "guard check" in caplog.text


def test_runs_finishing_together_are_compared_with_each_other(db: tuple[Settings, Any]) -> None:
    settings, sessions = db
    barrier = threading.Barrier(2, timeout=30)

    def together(scenario: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        totals = stub_runner(scenario, **kwargs)
        barrier.wait()
        return totals

    manager = Runs(settings.model_copy(update={"workers": 2}), sessions, together)
    manager.jobs.start()
    try:
        ids = [manager.submit(AGENCY), manager.submit(AGENCY, drop=[5])]
        for run_id in ids:
            manager.jobs.wait(run_id, timeout=60)
        verdicts = [manager.get(i).guard["withheld"] for i in ids]
    finally:
        manager.jobs.stop()
    assert sorted(verdicts) == [False, True]


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


def test_rate_limit_per_organisation(db: tuple[Settings, Any]) -> None:
    settings, sessions = db
    limited = settings.model_copy(update={"max_runs_per_hour": 3})
    now = utcnow()
    with sessions() as session, session.begin():
        for minutes in (90, 50, 20, 5):
            session.add(
                Run(
                    scenario={},
                    hazards={},
                    created_by=AGENCY.organisation_id,
                    created_at=now - dt.timedelta(minutes=minutes),
                )
            )
    with sessions() as session:
        with pytest.raises(RunRateLimitedError) as info:
            check_run_rate(session, AGENCY, limited, now=now)
        assert info.value.retry_after == 10 * 60  # the run of 50 minutes ago leaves the hour
        check_run_rate(session, PLANNER, limited, now=now)
        check_run_rate(session, ADMIN, limited, now=now)
        check_run_rate(session, AGENCY, settings, now=now)  # default: 30 an hour
        check_run_rate(session, AGENCY, limited.model_copy(update={"max_runs_per_hour": 0}))
        check_run_rate(session, AGENCY, limited, now=now + dt.timedelta(minutes=11))


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


# -- the attack of the finding, end to end -------------------------------------------------------
def _square(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


@pytest.mark.slow
def test_tiny_square_attack_is_withheld_either_way(tmp_path: Path, registry_file: Path) -> None:
    """The finding: a tiny square around one household, thresholds that take it in or out.

    Whether the target's PMT is below or above the cut-off, the second run of each pair is
    withheld, so neither the figures nor the refusal tell the attacker which.
    """
    frame = pq.read_table(registry_file, columns=["household_id", "pmt_score", "geometry"])
    households = frame.to_pandas()
    x = households["geometry"].map(lambda g: g["x"])
    y = households["geometry"].map(lambda g: g["y"])
    box = (70.0, 29.0, 74.0, 33.0)
    inside = (x > box[0]) & (x < box[2]) & (y > box[1]) & (y < box[3])
    pmt = households["pmt_score"]
    candidates = households[~inside & (pmt > 25) & (pmt < 35)].index
    target = next(
        i for i in candidates if np.sort(np.hypot(x - x[i], y - y[i]).to_numpy())[1] > 0.01
    )
    tx, ty, target_pmt = float(x[target]), float(y[target]), float(pmt[target])
    e = 0.001
    footprint = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"value": 1.0},
                "geometry": {"type": "Polygon", "coordinates": _square(*box)},
            },
            {
                "type": "Feature",
                "properties": {"value": 0.7},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": _square(tx - e, ty - e, tx + e, ty + e),
                },
            },
        ],
    }
    path = tmp_path / "footprint.geojson"
    path.write_text(json.dumps(footprint))
    root = tmp_path / "svc"
    root.mkdir()
    settings = make_settings(root, registry_path=registry_file, k_anonymity=K)
    service_iter = start_service(settings)
    service = next(service_iter)
    try:
        with open(path, "rb") as fh:
            r = service.post(
                "agency",
                "/hazards",
                files={"file": (path.name, fh)},
                data={"name": "flood", "kind": "flood_extent"},
            )
        assert r.status_code == 201, r.text
        hazard_id = r.json()["id"]
        agency_org = service.org_ids["agency"]
        principal = Principal(agency_org, "agency", "agency")

        def run(cutoff: float, min_intensity: float) -> tuple[Run, dict[str, Any]]:
            scenario = {
                "name": "tiny_square",
                "hazards": [
                    {
                        "name": "flood",
                        "path": "upload",
                        "kind": "flood_extent",
                        "intensity_field": "value",
                    }
                ],
                "eligibility": {
                    "pmt_cutoff": cutoff,
                    "hazard": [{"layer": "flood", "min_intensity": min_intensity}],
                },
                "benefit": {"kind": "fixed", "amount": 25000},
            }
            body = {"scenario": scenario, "hazards": {"flood": hazard_id}}
            r = service.post("agency", "/runs", json=body)
            assert r.status_code == 202, r.text
            run_id = r.json()["id"]
            service.app.state.jobs.wait(run_id, timeout=120)
            with service.app.state.sessionmaker() as session:
                row = session.get(Run, run_id)
                assert row is not None and row.status == "succeeded", row and row.error
            totals = service.get("admin", f"/runs/{run_id}/summary").json()["totals"]
            return row, totals

        for cutoff in (target_pmt + 8, target_pmt - 8):  # target eligible, then not
            without, totals_without = run(cutoff, 0.8)  # the square is below the threshold
            with_square, totals_with = run(cutoff, 0.6)  # the square passes it
            assert totals_without["selected"] >= K and totals_with["selected"] >= K
            moved = totals_with["selected"] - totals_without["selected"]
            assert moved == (1 if cutoff > target_pmt else 0)  # what the attacker would read
            assert not guard.is_withheld(without), without.guard
            assert with_square.guard == {
                "withheld": True,
                "close_to": without.id,
                "compared": with_square.guard["compared"],
            }
            with pytest.raises(FiguresWithheldError):
                check_figures_readable(with_square, principal, k=K)
            # over HTTP: the attacker reads the first run of the pair, not the second
            assert service.get("agency", f"/runs/{without.id}/summary").status_code == 200
            for url in ("summary", "map.png"):
                r = service.get("agency", f"/runs/{with_square.id}/{url}")
                assert r.status_code == 403, r.text
                assert r.json()["type"] == "urn:rahat:problem:figures-withheld"
                assert "withheld" in r.json()["detail"] and "close" not in r.json()["detail"]
            pair = {"run_a": without.id, "run_b": with_square.id, "level": "province"}
            assert service.post("agency", "/runs/compare", json=pair).status_code == 403
    finally:
        for _ in service_iter:
            pass
