"""Issue 9, findings 5 and 6: maps show no household; runs are private until published."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from conftest import TODAY, Service, add_finished_run, caseload_table

from rahat.api.service.admin import add_agreement
from rahat.api.service.aggregates import summary
from rahat.api.service.maps import map_figures
from rahat.api.service.models import Run
from rahat.geo.units import Level, gazetteer


def agreement_of(service: Service, organisation: str) -> int:
    from sqlalchemy import select

    from rahat.api.service.models import Agreement, Organisation

    with service.app.state.sessionmaker() as session:
        return session.scalar(
            select(Agreement.id)
            .join(Organisation, Agreement.organisation_id == Organisation.id)
            .where(Organisation.name == organisation)
        )


# ------------------------------------------------------------------ finding 6: publishing


def test_planner_what_if_is_invisible_to_ngos(fresh_service: Service) -> None:
    s = fresh_service
    everyone = caseload_table(seed=3)  # a what-if that selects every household
    everyone = everyone.set_column(
        everyone.schema.get_field_index("selected"),
        "selected",
        pa.array([True] * everyone.num_rows),
    )
    what_if = add_finished_run(s.app, everyone, s.org_ids["planner"])
    for who in ("ngo", "ngo_ids", "ngo_other"):
        r = s.get(who, f"/runs/{what_if}/households", params={"limit": 10})
        assert r.status_code == 404, (who, r.text)
        assert what_if not in {run["id"] for run in s.get(who, "/runs").json()}
    # The agency cannot see nor publish it either; the planner cannot publish at all.
    assert s.get("agency", f"/runs/{what_if}").status_code == 404
    body = {"agreements": [agreement_of(s, "ngo")]}
    assert s.post("agency", f"/runs/{what_if}/publish", json=body).status_code == 404
    assert s.post("planner", f"/runs/{what_if}/publish", json=body).status_code == 403


def test_publishing_is_checked_recorded_and_audited(fresh_service: Service) -> None:
    s = fresh_service
    run = add_finished_run(s.app, caseload_table(seed=4), s.org_ids["agency"])
    ngo, ngo_ids = agreement_of(s, "ngo"), agreement_of(s, "ngo_ids")
    assert s.get("ngo", f"/runs/{run}/households", params={"limit": 5}).status_code == 404
    for agreements, status in (
        ([], 422),
        ([999_999], 422),
        ([agreement_of(s, "ngo_expired")], 422),
    ):
        r = s.post("agency", f"/runs/{run}/publish", json={"agreements": agreements})
        assert r.status_code == status, (agreements, r.text)
    r = s.post("agency", f"/runs/{run}/publish", json={"agreements": [ngo]})
    assert r.status_code == 200 and r.json()["agreements"] == [ngo]
    r = s.post("agency", f"/runs/{run}/publish", json={"agreements": [ngo, ngo_ids]})
    assert r.json()["agreements"] == sorted([ngo, ngo_ids])
    assert s.get("ngo", f"/runs/{run}/households", params={"limit": 5}).status_code == 200
    assert s.get("ngo_other", f"/runs/{run}/households", params={"limit": 5}).status_code == 404
    events = s.get("admin", "/audit", params={"run_id": run, "action": "runs.publish"}).json()
    assert [e["outcome"] for e in events] == [422, 422, 422, 200, 200]
    assert all(e["organisation"] == "agency" for e in events)


def test_unfinished_runs_cannot_be_published(fresh_service: Service) -> None:
    s = fresh_service
    with s.app.state.sessionmaker() as session, session.begin():
        run = Run(scenario={}, hazards={}, status="running", created_by=s.org_ids["agency"])
        session.add(run)
        session.flush()
        run_id = run.id
    r = s.post("agency", f"/runs/{run_id}/publish", json={"agreements": [agreement_of(s, "ngo")]})
    assert r.status_code == 409, r.text


def test_lapsed_agreement_sees_nothing_even_if_published(fresh_service: Service) -> None:
    s = fresh_service
    with s.app.state.sessionmaker() as session, session.begin():
        add_agreement(
            session,
            "ngo_none",
            units=["district:PK703"],
            fields=["district"],
            purpose="one day only",
            valid_from=TODAY - dt.timedelta(days=3),
            valid_to=TODAY + dt.timedelta(days=1),
            max_rows=100,
        )
    r = s.post(
        "agency", f"/runs/{s.run_id}/publish", json={"agreements": [agreement_of(s, "ngo_none")]}
    )
    assert r.status_code == 200
    assert s.get("ngo_none", f"/runs/{s.run_id}/households").status_code == 200
    assert s.get("ngo_future", f"/runs/{s.run_id}/households").status_code == 403


# ------------------------------------------------------------------ finding 5: maps


@pytest.fixture
def mixed_run(fresh_service: Service) -> tuple[Service, str]:
    """A run with big and small districts, so that some figures are published."""
    columns: dict[str, list[object]] = {"province": [], "district": [], "district_pcode": []}
    sizes = {("Dadu", "PK703"): 120, ("Larkana", "PK713"): 80, ("Jamshoro", "PK708"): 4}
    for (district, pcode), n in sizes.items():
        columns["province"] += ["Sindh"] * n
        columns["district"] += [district] * n
        columns["district_pcode"] += [pcode] * n
    n = len(columns["province"])
    table = pa.table(
        {
            "household_id": pa.array(range(1, n + 1), pa.int64()),
            "selected": pa.array([True] * n),
            "eligible": pa.array([True] * n),
            "exposed": pa.array([True] * n),
            "amount": pa.array([25_000] * n, pa.int64()),
            "benefit": pa.array([25_000.0] * n),
            "household_size": pa.array([6] * n, pa.int64()),
            **{k: pa.array(v, pa.string()) for k, v in columns.items()},
            "lon": pa.array([68.0] * n),
            "lat": pa.array([26.5] * n),
        }
    )
    return fresh_service, add_finished_run(
        fresh_service.app, table, fresh_service.org_ids["agency"]
    )


def test_map_figures_are_the_published_summary(mixed_run: tuple[Service, str]) -> None:
    s, run_id = mixed_run
    run_dir = s.app.state.settings.runs_dir / run_id
    figures = map_figures(run_dir, 10)
    units = summary(run_dir, "district", 10)["units"]
    codes = {u["district"]: gazetteer().resolve(f"district:{u['district']}").code for u in units}
    shown = {codes[u["district"]]: u["selected"] for u in units if not u["suppressed"]}
    hidden = {codes[u["district"]] for u in units if u["suppressed"]}
    assert figures.shown == shown and set(figures.hidden) == hidden
    assert codes["Jamshoro"] in hidden and len(hidden) == 2  # 4 households, and a complement
    assert "Rs" not in figures.title or not summary(run_dir, "province", 10)["totals"]["suppressed"]
    assert gazetteer().get(codes["Dadu"]).level == Level.DISTRICT


def test_map_endpoint_by_role(mixed_run: tuple[Service, str]) -> None:
    s, run_id = mixed_run
    run_dir = s.app.state.settings.runs_dir / run_id
    agency = s.get("agency", f"/runs/{run_id}/map.png")
    assert agency.status_code == 200 and agency.content.startswith(b"\x89PNG")
    assert agency.content != (run_dir / "map.png").read_bytes()  # not the household map
    assert (run_dir / "map-k10.png").read_bytes() == agency.content
    admin = s.get("admin", f"/runs/{run_id}/map.png")
    assert admin.content == (run_dir / "map.png").read_bytes()


def test_map_title_withholds_suppressed_totals(tmp_path) -> None:
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "household_id": pa.array([1, 2, 3, 4], pa.int64()),
            "selected": pa.array([True] * 4),
            "eligible": pa.array([True] * 4),
            "household_size": pa.array([9] * 4, pa.int64()),
            "benefit": pa.array([1_000.0] * 4),
            "province": pa.array(["Sindh"] * 4),
            "district": pa.array(["Dadu"] * 4),
        }
    )
    pq.write_table(table, tmp_path / "caseload.parquet")
    figures = map_figures(tmp_path, 10)
    assert figures.shown == {} and "withheld" in figures.title
    for secret in ("4", "36", "4,000"):
        assert secret not in figures.title.replace("k = 10", "")
