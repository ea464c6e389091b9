"""``/grievances``: tickets of disputed claims by role, their history, audit, the assisted list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import Service
from sqlalchemy import func, select
from test_claims_api import registry_frame as claims_registry_frame

from rahat.api.service import grievances
from rahat.api.service.models import AuditEvent, GrievanceEvent, GrievanceTicket
from rahat.geo.errors import ConflictError
from rahat.geo.registry.identity import SECRET_ENV, cnic_tokens
from rahat.geo.registry.io import write_registry

SECRET = "5e" * 32
_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def identity_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def new_cnic() -> str:
    """A valid CNIC (Sindh), different at each call."""
    return f"41306-{next(_serial):07d}-3"


def open_ticket(service: Service, who: str = "agency", **body: Any) -> Any:
    body.setdefault("cnic", new_cnic())
    return service.post(who, "/grievances", json=body)


def opened(service: Service, **body: Any) -> dict[str, Any]:
    r = open_ticket(service, **body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def patch(service: Service, who: str, ticket_id: str, **body: Any) -> Any:
    return service.client.patch(f"/grievances/{ticket_id}", json=body, headers=service.headers(who))


def moved(service: Service, ticket_id: str, who: str = "agency", **body: Any) -> dict[str, Any]:
    r = patch(service, who, ticket_id, **body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def ticket_count(service: Service) -> int:
    with service.app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(GrievanceTicket)) or 0)


def test_a_ticket_keeps_only_the_cnic_token_and_is_due_after_the_sla(service: Service) -> None:
    cnic = "41306-9876543-1"
    r = open_ticket(
        service,
        cnic=cnic,
        household_id=1_000_000_007,
        decision="eligible_not_selected",
        reasons=["eligible_not_selected", "stated_location_mismatch"],
        district="Dadu",
        tehsil="PK70302",
        assignee_id=service.org_ids["ngo"],
        note="says the survey missed the flood damage",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    token = int(cnic_tokens([cnic], bytes.fromhex(SECRET))[0][0])
    assert body["cnic_token"] == token
    assert (body["status"], body["district"], body["tehsil"]) == ("open", "PK703", "PK70302")
    assert body["reasons"] == ["eligible_not_selected", "stated_location_mismatch"]
    created = dt.datetime.fromisoformat(body["created_at"])
    due = dt.datetime.fromisoformat(body["due_at"])
    assert due - created == dt.timedelta(days=14) and body["overdue"] is False
    assert [(e["from_status"], e["to_status"]) for e in body["history"]] == [(None, "open")]
    for text in (cnic, cnic.replace("-", "")):
        assert text not in r.text
        assert text not in service.get("agency", f"/grievances/{body['id']}").text
    with service.app.state.sessionmaker() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.route == "/grievances"))
        assert all(cnic.replace("-", "") not in str(e.filter) + e.path for e in events)
    database = service.app.state.settings.state_dir / "rahat.db"
    if service.app.state.settings.database_url.startswith("sqlite"):
        stored = b"".join(p.read_bytes() for p in database.parent.glob("rahat.db*"))
        assert cnic.replace("-", "").encode() not in stored and cnic.encode() not in stored


@pytest.mark.parametrize("cnic", ["41306-123456-1", "4130612345671x", "1111111111111", "abc"])
def test_an_invalid_cnic_is_a_422_that_does_not_quote_it(service: Service, cnic: str) -> None:
    before = ticket_count(service)
    r = open_ticket(service, cnic=cnic)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "not a valid CNIC" in r.json()["detail"] and cnic not in r.text
    assert ticket_count(service) == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"decision": "paid_already"}, "unknown decision"),
        ({"decision": "phone_velocity"}, "unknown decision"),  # a flag, never a decision
        ({"reasons": ["in_caseload", "made_up"]}, "unknown code(s) at position 2;"),
        ({"reasons": ["in_caseload", "4130612345671"]}, "at position 2;"),
        ({"district": "PK713", "tehsil": "PK70301"}, "is not in"),
        ({"tehsil": "PK99999"}, "tehsil: not a tehsil Rahat knows"),
        ({"district": "03001234567"}, "district: not a district Rahat knows"),
        ({"tehsil": "PK703"}, "tehsil: not a tehsil Rahat knows"),  # a district's code
        ({"assignee_id": 10**6}, "no agency or NGO organisation"),
    ],
)
def test_bad_fields_are_a_422_in_words(service: Service, body: dict[str, Any], words: str) -> None:
    before = ticket_count(service)
    r = open_ticket(service, **body)
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert ticket_count(service) == before
    sent = [v for v in body.values() if isinstance(v, str) and not v.startswith("PK7")]
    sent += [v for v in body.get("reasons", []) if v != "in_caseload"]
    for value in sent:  # what was sent is never quoted (a claimant's number may be there)
        assert value not in r.text, value


def test_a_planner_cannot_be_the_assignee(service: Service) -> None:
    r = open_ticket(service, assignee_id=service.org_ids["planner"])
    assert r.status_code == 422 and "assignee_id" in r.json()["detail"]


@pytest.mark.parametrize("value", [None, "", "not-hex", "ab" * 8])
def test_without_a_usable_secret_opening_is_a_503_that_shows_no_value(
    service: Service, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(SECRET_ENV)
    else:
        monkeypatch.setenv(SECRET_ENV, value)
    r = open_ticket(service)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert SECRET_ENV in r.json()["detail"]
    if value:
        assert value not in r.text


#: How a ticket is brought into each state from open.
PATHS: dict[str, list[dict[str, Any]]] = {
    "open": [],
    "under_review": [{"status": "under_review"}],
    "resolved": [{"status": "under_review"}, {"status": "resolved", "note": "paid"}],
    "rejected": [{"status": "rejected", "note": "duplicate of another ticket"}],
}
ALLOWED = {("open", "under_review"), ("open", "rejected"), ("under_review", "resolved")}
ALLOWED |= {("under_review", "rejected")}


@pytest.mark.parametrize(("start", "target"), list(itertools.product(PATHS, PATHS)))
def test_only_the_allowed_moves_are_made(service: Service, start: str, target: str) -> None:
    tid = opened(service)["id"]
    for step in PATHS[start]:
        moved(service, tid, **step)
    r = patch(service, "agency", tid, status=target, note="checked")
    if (start, target) in ALLOWED:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == target
        assert body["history"][-1]["from_status"] == start
        assert body["history"][-1]["to_status"] == target
        if target in ("resolved", "rejected"):
            assert body["resolution"] == "checked"
    else:
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert service.get("agency", f"/grievances/{tid}").json()["status"] == start


def test_closing_needs_a_note_and_a_closed_ticket_takes_no_change(service: Service) -> None:
    tid = opened(service)["id"]
    r = patch(service, "agency", tid, status="rejected")
    assert r.status_code == 422 and "note" in r.json()["detail"]
    moved(service, tid, status="rejected", note="not affected")
    r = patch(service, "agency", tid, note="one more thing")
    assert r.status_code == 409 and "final" in r.json()["detail"]


def test_a_change_made_meanwhile_is_a_409(service: Service) -> None:
    tid = opened(service)["id"]
    sessions = service.app.state.sessionmaker
    principal = grievances.Principal(service.org_ids["agency"], "agency", "agency")
    with sessions() as stale, sessions() as other:
        ticket = grievances.find_ticket(stale, principal, tid)
        fresh = grievances.find_ticket(other, principal, tid)
        grievances.update_ticket(other, principal, None, fresh, {"status": "under_review"})
        with pytest.raises(ConflictError, match="meanwhile"):
            grievances.update_ticket(
                stale, principal, None, ticket, {"status": "rejected", "note": "x"}
            )
    assert service.get("agency", f"/grievances/{tid}").json()["status"] == "under_review"


def test_an_ngo_sees_and_moves_only_its_own_tickets(service: Service) -> None:
    mine = opened(service, household_id=1_000_000_014, assignee_id=service.org_ids["ngo"])
    theirs = opened(service, household_id=1_000_000_021, assignee_id=service.org_ids["ngo_ids"])
    # the other NGO's ticket does not exist for this one
    for who, tid in (("ngo", theirs["id"]), ("ngo_ids", mine["id"]), ("ngo_other", mine["id"])):
        r = service.get(who, f"/grievances/{tid}")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert patch(service, who, tid, status="under_review").status_code == 404
    listed = {t["id"] for t in service.get("ngo", "/grievances", params={"limit": 1000}).json()}
    assert mine["id"] in listed and theirs["id"] not in listed
    other = service.get("ngo_other", "/grievances", params={"limit": 1000}).json()
    assert mine["id"] not in {t["id"] for t in other}
    # fields: neither CNIC token nor household, whatever the agreement grants
    seen = service.get("ngo", f"/grievances/{mine['id']}").json()
    granted = service.get("ngo_ids", f"/grievances/{theirs['id']}").json()
    for fields in (seen, granted):
        assert not {"cnic_token", "household_id", "household_ref"} & set(fields)
        assert "1000000014" not in str(fields) and "1000000021" not in str(fields)
    # it moves its own ticket, but may not reassign it or touch the assisted list
    for change in ({"assignee_id": service.org_ids["ngo_ids"]}, {"add_to_assisted": True}):
        r = patch(service, "ngo", mine["id"], status="under_review", **change)
        assert r.status_code == 403, r.text
    body = moved(service, mine["id"], who="ngo", status="under_review", note="visited")
    assert body["status"] == "under_review" and "cnic_token" not in body
    assert body["history"][-1]["actor_id"] == service.org_ids["ngo"]


def test_roles_that_may_not_work_grievances_are_refused(service: Service) -> None:
    tid = opened(service)["id"]
    assert open_ticket(service, who="ngo").status_code == 403
    for who in ("planner", None):
        status = 403 if who else 401
        assert open_ticket(service, who=who).status_code == status
        assert service.get(who, "/grievances").status_code == status
        assert service.get(who, f"/grievances/{tid}").status_code == status
        assert service.get(who, "/grievances/export").status_code == status
        assert patch(service, who, tid, status="under_review").status_code == status
    assert service.get("ngo", "/grievances/assisted.csv").status_code == 403


def test_an_agency_reassigns_and_the_history_says_so(service: Service) -> None:
    tid = opened(service, assignee_id=service.org_ids["ngo"])["id"]
    body = moved(service, tid, assignee_id=service.org_ids["ngo_ids"], note="closer to Larkana")
    last = body["history"][-1]
    assert (last["from_assignee"], last["to_assignee"]) == (
        service.org_ids["ngo"],
        service.org_ids["ngo_ids"],
    )
    assert (last["from_status"], last["to_status"]) == ("open", "open")
    assert service.get("ngo", f"/grievances/{tid}").status_code == 404
    assert service.get("ngo_ids", f"/grievances/{tid}").status_code == 200
    r = patch(service, "agency", tid, assignee_id=service.org_ids["planner"])
    assert r.status_code == 422


def test_overdue_tickets_are_those_still_worked_past_their_due_time(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rahat.api.service.routers import grievances as routes

    waiting = opened(service)["id"]
    reviewed = opened(service)["id"]
    moved(service, reviewed, status="under_review")
    closed = opened(service)["id"]
    moved(service, closed, status="rejected", note="not a claim")

    def ids(**params: Any) -> set[str]:
        r = service.get("agency", "/grievances", params={"limit": 1000, **params})
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()}

    ours = {waiting, reviewed, closed}
    assert not ids(overdue="true") & ours and ids(overdue="false") >= ours
    real = routes.utcnow
    # one second before the 14 days are up: still not overdue; one second after: overdue
    for offset, late in (
        (dt.timedelta(days=14, seconds=-1), False),
        (dt.timedelta(days=14, seconds=1), True),
    ):
        monkeypatch.setattr(routes, "utcnow", lambda offset=offset: real() + offset)
        expected = {waiting, reviewed} if late else set()
        assert ids(overdue="true") & ours == expected
        assert ids(overdue="false") & ours == ours - expected
        one = service.get("agency", f"/grievances/{waiting}").json()
        assert one["overdue"] is late
    assert ids(status="under_review") & ours == {reviewed}


def test_the_list_is_paged_newest_first(service: Service) -> None:
    for _ in range(3):
        opened(service)
    whole = service.get("agency", "/grievances", params={"limit": 1000}).json()
    first = service.get("agency", "/grievances", params={"limit": 2}).json()
    second = service.get("agency", "/grievances", params={"limit": 2, "offset": 2}).json()
    assert [t["id"] for t in first + second] == [t["id"] for t in whole[:4]]
    stamps = [t["created_at"] for t in whole]
    assert stamps == sorted(stamps, reverse=True)


def test_every_change_and_read_is_audited(service: Service) -> None:
    tid = opened(service)["id"]
    moved(service, tid, status="under_review", note="reading the file")
    service.get("agency", f"/grievances/{tid}")
    assert patch(service, "agency", tid, status="open").status_code == 409
    with service.app.state.sessionmaker() as session:
        rows = [
            e
            for e in session.scalars(select(AuditEvent).where(AuditEvent.path.contains(tid)))
            if e.filter.get("ticket_id") == tid
        ]
        created = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "grievances.create")
        ).all()
    assert any(e.filter.get("ticket_id") == tid and e.outcome == 201 for e in created)
    by_action = {(e.action, e.outcome): e for e in rows}
    update = by_action[("grievances.update", 200)]
    assert (update.filter["from_status"], update.filter["to_status"]) == ("open", "under_review")
    assert update.key_prefix and update.organisation == "agency"
    assert ("grievances.update", 409) in by_action
    read = by_action[("grievances.read", 200)]
    assert read.rows == 1 and "cnic_token" in read.fields


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_exports_hold_each_role_s_columns_and_no_raw_numbers(service: Service) -> None:
    cnic = new_cnic()
    tid = opened(
        service, cnic=cnic, household_id=1_000_000_028, assignee_id=service.org_ids["ngo"]
    )["id"]
    other = opened(service, assignee_id=service.org_ids["ngo_ids"])["id"]
    moved(service, tid, status="under_review")
    moved(service, tid, status="rejected", note='=HYPERLINK("http://x")')
    agency = service.get("agency", "/grievances/export")
    assert agency.status_code == 200 and agency.headers["content-type"].startswith("text/csv")
    rows = {r["id"]: r for r in _csv(agency.text)}
    assert {tid, other} <= set(rows)
    assert rows[tid]["cnic_token"] and rows[tid]["household_id"] == "1000000028"
    assert rows[tid]["resolution"].startswith("'=")  # not run as a formula
    ngo = service.get("ngo", "/grievances/export")
    assert ngo.status_code == 200
    ngo_rows = _csv(ngo.text)
    assert tid in {r["id"] for r in ngo_rows} and other not in {r["id"] for r in ngo_rows}
    assert not {"cnic_token", "household_id", "household_ref"} & set(ngo_rows[0])
    assert "1000000028" not in ngo.text
    for text in (agency.text, ngo.text):
        assert cnic not in text and cnic.replace("-", "") not in text
    with service.app.state.sessionmaker() as session:
        export = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "grievances.export", AuditEvent.organisation == "ngo")
            .order_by(AuditEvent.id.desc())
        ).first()
    assert export is not None and export.rows == len(ngo_rows)


def test_a_resolved_ticket_puts_its_household_on_the_assisted_list_a_run_reads(
    service: Service,
) -> None:
    from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
    from rahat.engine.targeting import evaluate, load_scenario

    base = {k: v for k, v in BENCH_SCENARIO.items() if k != "quotas"}  # no budget to split
    exposure = synthetic_exposure(3000, seed=5)
    before = evaluate(load_scenario(base), exposure).frame
    paid, kept = (int(h) for h in before.loc[before["selected"], "household_id"].head(2))
    # paid: resolved with add_to_assisted; kept: the same but rejected, so never on the list
    added = opened(service, household_id=paid)["id"]
    refused = opened(service, household_id=kept)["id"]
    moved(service, added, status="under_review", add_to_assisted=True)
    listed = service.get("agency", "/grievances/assisted.csv")
    assert paid not in {int(r["household_id"]) for r in _csv(listed.text)}  # not yet resolved
    moved(service, added, status="resolved", note="paid by hand at the camp")
    moved(service, refused, status="rejected", note="not affected", add_to_assisted=True)
    path = grievances.assisted_path(service.app.state.settings)
    on_file = {int(r["household_id"]) for r in _csv(path.read_text())}
    served = service.get("agency", "/grievances/assisted.csv")
    assert served.status_code == 200
    assert {int(r["household_id"]) for r in _csv(served.text)} == on_file
    assert paid in on_file and kept not in on_file
    data = {**base, "eligibility": dict(base["eligibility"])}
    data["eligibility"]["exclude"] = {
        **base["eligibility"].get("exclude", {}),
        "assisted_lists": [str(path)],
    }
    after = evaluate(load_scenario(data), exposure).frame.set_index("household_id")
    assert not after.loc[paid, "eligible"] and not after.loc[paid, "selected"]
    assert "not_assisted:fail" in after.loc[paid, "reasons"]
    assert after.loc[kept, "eligible"]
    assert np.array_equal(
        after.drop(index=list(on_file), errors="ignore")["eligible"].to_numpy(),
        before.set_index("household_id")
        .drop(index=list(on_file), errors="ignore")["eligible"]
        .to_numpy(),
    )


def test_resolving_onto_the_assisted_list_needs_a_household(service: Service) -> None:
    tid = opened(service)["id"]
    moved(service, tid, status="under_review", add_to_assisted=True)
    r = patch(service, "agency", tid, status="resolved", note="paid")
    assert r.status_code == 422 and "household_id" in r.json()["detail"]
    body = moved(service, tid, status="resolved", note="paid", household_id=1_000_000_035)
    assert body["add_to_assisted"] is True
    path = grievances.assisted_path(service.app.state.settings)
    assert "1000000035" in path.read_text()


def test_history_rows_are_written_for_every_change(service: Service) -> None:
    tid = opened(service, assignee_id=service.org_ids["ngo"])["id"]
    moved(service, tid, note="called the claimant")
    moved(service, tid, who="ngo", status="under_review")
    with service.app.state.sessionmaker() as session:
        events: Iterator[GrievanceEvent] = session.scalars(
            select(GrievanceEvent)
            .where(GrievanceEvent.ticket_id == tid)
            .order_by(GrievanceEvent.id)
        )
        seen = [(e.from_status, e.to_status, e.actor_id, e.note) for e in events]
    assert seen == [
        (None, "open", service.org_ids["agency"], None),
        ("open", "open", service.org_ids["agency"], "called the claimant"),
        ("open", "under_review", service.org_ids["ngo"], None),
    ]


#: CNICs of registry households 100 and 200 (under :data:`SECRET`); 300 and 400 have none.
REGISTERED = {100: "41306-5550001-1", 200: "41306-5550002-2"}


@pytest.fixture
def registry(service: Service, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Serve a registry whose households 100 and 200 hold the CNICs of :data:`REGISTERED`."""
    frame = claims_registry_frame(tokens=False)
    tokens = cnic_tokens(list(REGISTERED.values()), bytes.fromhex(SECRET))[0]
    frame["cnic_token"] = np.r_[tokens, 0, 0].astype(np.int64)
    path = write_registry(frame, tmp_path / "registry.parquet")
    monkeypatch.setattr(service.app.state.settings, "registry_path", path)
    return path


def test_a_registered_cnic_records_its_household_and_a_different_one_is_refused(
    service: Service, registry: Any
) -> None:
    assert opened(service, cnic=REGISTERED[100])["household_id"] == 100
    assert opened(service, cnic=REGISTERED[200].replace("-", ""))["household_id"] == 200
    assert opened(service, cnic=REGISTERED[100], household_id=100)["household_id"] == 100
    before = ticket_count(service)
    for given in (200, 300, 999):
        r = open_ticket(service, cnic=REGISTERED[100], household_id=given)
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        detail = r.json()["detail"]
        assert "household_id" in detail and "100" not in r.text and REGISTERED[100] not in r.text
    assert ticket_count(service) == before
    # an unregistered claimant: no household, or the one the agency names
    assert opened(service)["household_id"] is None
    assert opened(service, household_id=300)["household_id"] == 300


def test_without_a_registry_of_tokens_the_household_is_the_one_given(
    service: Service, registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = write_registry(claims_registry_frame(tokens=False), registry.parent / "plain.parquet")
    settings = service.app.state.settings
    for path in (plain, registry.parent / "missing.parquet"):
        monkeypatch.setattr(settings, "registry_path", path)
        assert opened(service, cnic=REGISTERED[100]).get("household_id") is None
        assert opened(service, cnic=REGISTERED[100], household_id=200)["household_id"] == 200


def test_an_ngo_cannot_tell_a_registered_claimant_from_an_unregistered_one(
    service: Service, registry: Any
) -> None:
    """Every NGO answer about the two tickets is the same but for ids and times."""
    ngo = service.org_ids["ngo_ids"]  # its agreement grants household_id
    tickets = {
        cnic: opened(service, cnic=cnic, assignee_id=ngo)["id"]
        for cnic in (REGISTERED[100], new_cnic())
    }
    stamps = ("id", "created_at", "updated_at", "due_at", "at")

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if k not in stamps}
        return [shape(v) for v in value] if isinstance(value, list) else value

    answers: dict[str, list[Any]] = {}
    for cnic, tid in tickets.items():
        seen = [shape(service.get("ngo_ids", f"/grievances/{tid}").json())]
        listed = service.get("ngo_ids", "/grievances", params={"limit": 1000}).json()
        seen += [shape(t) for t in listed if t["id"] == tid]
        export = service.get("ngo_ids", "/grievances/export").text
        seen += [shape(row) for row in _csv(export) if row["id"] == tid]
        moved(service, tid, add_to_assisted=True)  # the agency asks for the assisted list
        r = patch(service, "ngo_ids", tid, status="under_review", note="visited")
        seen.append((r.status_code, shape(r.json())))
        r = patch(service, "ngo_ids", tid, status="resolved", note="paid")
        seen.append((r.status_code, r.json()["detail"]))
        answers[cnic] = seen
    registered, stranger = answers.values()
    assert registered == stranger
    assert registered[-1][0] == 403 and "only the agency may resolve" in registered[-1][1]
    assert "household" not in str(registered[:3]).replace("add_to_assisted", "")
    # the agency sees the household found, and resolves the ticket onto the assisted list
    body = moved(service, tickets[REGISTERED[100]], status="resolved", note="paid")
    assert body["household_id"] == 100 and body["add_to_assisted"] is True


def test_a_missing_ticket_is_a_404_that_does_not_quote_its_id(service: Service) -> None:
    from sqlalchemy import select

    from rahat.api.service.models import AuditEvent

    for tid in ("4130612345671", "41306-1234567-1", "no-such-ticket"):
        r = service.get("agency", f"/grievances/{tid}")
        assert r.status_code == 404 and "No grievance with that id" in r.json()["detail"], r.text
        assert tid not in r.json()["detail"]
        assert patch(service, "agency", tid, note="x").status_code == 404
    assert r.json()["instance"] == "/grievances/no-such-ticket"  # not a number: kept
    with service.app.state.sessionmaker() as session:
        paths = set(session.scalars(select(AuditEvent.path).where(AuditEvent.outcome == 404)))
        filters = [e.filter for e in session.scalars(select(AuditEvent))]
    assert "/grievances/{number}" in paths and "/grievances/no-such-ticket" in paths
    assert not any("4130612345671" in p or "1234567" in p for p in paths)
    assert {"ticket_id": "{number}", "change": ["note"]} in filters
    assert not any("1234567" in str(f) for f in filters)


def test_numbers_in_notes_are_stored_as_number_removed(service: Service) -> None:
    ticket = opened(service, note="her CNIC 41306-1234567-1, phone 0300 1234567, paid 30,000")
    moved(service, ticket["id"], status="under_review", note="call +92 321 7654321 at 5")
    out = moved(service, ticket["id"], status="resolved", note="paid to 4130612345671")
    assert out["resolution"] == "paid to [number removed]"
    assert [e["note"] for e in out["history"]] == [
        "her CNIC [number removed], phone [number removed], paid 30,000",
        "call [number removed] at 5",
        "paid to [number removed]",
    ]
