"""The differencing guard (issue 9, finding 4) in the job manager, the rate limit and the attack."""

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
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from rahat.api.service import guard
from rahat.api.service.admin import add_organisation
from rahat.api.service.db import (
    create_schema,
    make_engine,
    make_sessionmaker,
)
from rahat.api.service.guard import (
    SETS_FILE,
    FiguresWithheldError,
    RunRateLimitedError,
    check_figures_readable,
    check_run_rate,
)
from rahat.api.service.jobs import JobManager
from rahat.api.service.models import Run, utcnow
from rahat.api.service.security import Principal
from rahat.api.service.settings import Settings

K = 10
AGENCY = Principal(organisation_id=1, organisation="PDMA", role="agency")
PLANNER = Principal(organisation_id=2, organisation="P&D", role="planner")
ADMIN = Principal(organisation_id=3, organisation="NDMA", role="admin")


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
