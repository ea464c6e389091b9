"""``POST /claims``: decisions by role, NGO agreements, limits, refusals, and no raw number."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import (
    Service,
    add_finished_run,
    backends,
    make_settings,
    publish,
    start_service,
)
from sqlalchemy import select

from rahat.api.service.admin import create_key, revoke_key
from rahat.api.service.models import AuditEvent
from rahat.api.service.security import token_prefix
from rahat.engine.targeting.caseload import DECISIONS
from rahat.geo.registry.identity import SECRET_ENV, cnic_tokens
from rahat.geo.registry.io import write_registry

SECRET_HEX = "cd" * 32
#: Households 100 and 200 in tehsil Dadu (PK70301), 300 in Johi (PK70302), 400 in Larkana.
CNICS = {100: "4130412345671", 200: "4130412345672", 300: "4130412345673", 400: "4150112345674"}
STRANGERS = ["4130498765431", "4150198765432"]
PHONE, PHONE_FORMS = "0300-7654321", ("03007654321", "3007654321", "923007654321")
HOUSEHOLDS = [
    (100, "Dadu", "PK703", "Dadu", "PK70301"),
    (200, "Dadu", "PK703", "Dadu", "PK70301"),
    (300, "Dadu", "PK703", "Johi", "PK70302"),
    (400, "Larkana", "PK713", "Larkana", "PK71303"),
]


def registry_frame(tokens: bool = True) -> pd.DataFrame:
    n = len(HOUSEHOLDS)
    ids, districts, dpcs, tehsils, tpcs = (list(c) for c in zip(*HOUSEHOLDS, strict=True))
    frame = pd.DataFrame(
        {
            "household_id": np.array(ids, dtype=np.int64),
            "lon": [67.61, 67.62, 67.50, 68.20],
            "lat": [26.73, 26.74, 26.80, 27.56],
            "province": pd.Categorical(["Sindh"] * n),
            "district": pd.Categorical(districts),
            "district_pcode": pd.Categorical(dpcs),
            "tehsil": pd.Categorical(tehsils),
            "tehsil_pcode": pd.Categorical(tpcs),
            "pmt_score": np.array([20.0, 25.0, 50.0, 10.0], dtype=np.float32),
            "household_size": np.array([5, 6, 4, 7], dtype=np.int16),
            "children_under5": np.zeros(n, dtype=np.int16),
            "elderly": np.zeros(n, dtype=np.int16),
            "disabled": np.zeros(n, dtype=np.int16),
            "female_headed": np.zeros(n, dtype=bool),
            "dwelling": pd.Categorical(["kacha"] * n),
            "livelihood": pd.Categorical(["daily_wage"] * n),
            "last_updated": np.array(["2021-01-01"] * n, dtype="datetime64[s]"),
        }
    )
    if tokens:
        frame["cnic_token"] = cnic_tokens(list(CNICS.values()), bytes.fromhex(SECRET_HEX))[0]
    return frame


def caseload() -> pa.Table:
    """100 selected at rank 1, 200 cut by the budget, 300 not eligible; 400 not considered."""
    return pa.table(
        {
            "household_id": np.array([100, 200, 300], dtype=np.int64),
            "rank": pa.array([1, 2, None], type=pa.int64()),
            "exposed": [True, True, True],
            "selected": [True, False, False],
            "eligible": [True, True, False],
            "amount": np.array([30_000, 0, 0], dtype=np.int64),
            "decision": pd.Categorical(
                ["selected", "cut_budget", "not_eligible"], categories=list(DECISIONS)
            ),
            "reasons": [
                "selected: within the budget",
                "budget: cut at rank 2 (score 0.4 < 0.5 at the cut)",
                "pmt<=32: fail (50)",
            ],
            "province": ["Sindh"] * 3,
            "district": ["Dadu"] * 3,
            "district_pcode": ["PK703"] * 3,
            "tehsil": ["Dadu", "Dadu", "Johi"],
            "tehsil_pcode": ["PK70301", "PK70301", "PK70302"],
            "lon": [67.61, 67.62, 67.50],
            "lat": [26.73, 26.74, 26.80],
        }
    )


@pytest.fixture(scope="module", params=backends())
def live(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("claims")
    registry = write_registry(registry_frame(), root / "registry.parquet")
    write_registry(registry_frame(tokens=False), root / "no_tokens.parquet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_ENV, SECRET_HEX)
        mp.setenv("RAHAT_CACHE_DIR", str(root / "cache"))
        settings = make_settings(
            root,
            request.param,
            registry_path=registry,
            claims_per_minute=1000,
            claims_phone_velocity=3,
        )
        for service in start_service(settings):
            service.run_id = add_finished_run(service.app, caseload(), service.org_ids["agency"])
            publish(service.app, service.run_id, ["ngo"])
            yield service


def claim(cnic: str, tehsil: str = "", district: str = "", phone: str = "") -> dict[str, str]:
    out = {"cnic": cnic, "stated_tehsil": tehsil, "stated_district": district}
    return {**out, "phone": phone} if phone else out


AGENCY_BATCH = [
    claim(CNICS[100], "PK70301", "PK703", PHONE),  # 1 in_caseload
    claim(CNICS[200], "PK70301", phone=PHONE),  # 2 eligible_not_selected
    claim(CNICS[300], "PK70301", phone=PHONE),  # 3 registered_not_eligible, states Dadu not Johi
    claim(CNICS[400], "PK71303"),  # 4 registered_outside_footprint
    claim(STRANGERS[0], "PK70301"),  # 5 not_registered_in_footprint
    claim(STRANGERS[1], "PK71303"),  # 6 not_registered_outside_footprint
    claim(CNICS[100], "PK70301"),  # 7 duplicate_claim
    claim("12345", "PK70301"),  # 8 invalid_cnic
]


def post(service: Service, who: str, claims: list[dict[str, Any]], **body: Any) -> Any:
    return service.post(who, "/claims", json={"claims": claims, **body})


def by_row(response: Any) -> dict[int, dict[str, Any]]:
    return {d["row"]: d for d in response.json()["decisions"]}


def test_agency_gets_each_reason_with_rank_amount_cut_line_and_rules(live: Service) -> None:
    r = post(live, "agency", AGENCY_BATCH, run_id=live.run_id)
    assert r.status_code == 200, r.text
    rows = by_row(r)
    assert [rows[i]["decision"] for i in range(1, 9)] == [
        "in_caseload",
        "eligible_not_selected",
        "registered_not_eligible",
        "registered_outside_footprint",
        "not_registered_in_footprint",
        "not_registered_outside_footprint",
        "duplicate_claim",
        "invalid_cnic",
    ]
    assert rows[1]["reasons"] == ["in_caseload", "phone_velocity"]
    assert (rows[1]["rank"], rows[1]["amount"], rows[1]["unit"]) == (1, 30_000, "PK70301")
    assert rows[2]["cut_line"] == "budget: cut at rank 2 (score 0.4 < 0.5 at the cut)"
    assert rows[3]["reasons"] == [
        "registered_not_eligible",
        "stated_location_mismatch",
        "phone_velocity",
    ]
    assert rows[3]["failed_rules"] == "pmt<=32: fail (50)" and rows[3]["unit"] == "PK70302"
    assert rows[4]["rank"] is None and rows[4]["amount"] is None
    assert rows[7]["reasons"] == ["duplicate_claim", "in_caseload"]
    assert rows[8]["reasons"] == ["invalid_cnic"] and rows[8]["unit"] == "PK70301"
    body = r.json()
    assert body["counts"]["in_caseload"] == 1 and body["reasons"]["in_caseload"] == 2
    assert body["reasons"]["phone_velocity"] == 3 and "k" not in body
    summary = {(s["unit"], s["reason"]): s["claims"] for s in body["summary"]}
    assert summary[("PK70301", "in_caseload")] == 2
    assert summary[("PK70301", "not_registered_in_footprint")] == 1
    assert summary[("PK71303", "registered_outside_footprint")] == 1


def test_summary_is_the_engines_for_the_same_claims(live: Service, tmp_path: Path) -> None:
    from rahat.engine.claims.decide import RegistryIndex, decide_claims
    from rahat.engine.claims.outputs import summary_frame
    from rahat.engine.claims.read import read_claims
    from rahat.geo.registry.model import Registry

    path = tmp_path / "claims.csv"
    pd.DataFrame(AGENCY_BATCH).fillna("").to_csv(path, index=False)
    batch = read_claims(path, bytes.fromhex(SECRET_HEX))
    index = RegistryIndex.build(Registry.from_frame(registry_frame()))
    expected = summary_frame(decide_claims(batch, index, velocity=3)).to_dict("records")
    r = post(live, "agency", AGENCY_BATCH)
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == [{**e, "claims": int(e["claims"])} for e in expected]
    assert {d["decision"] for d in r.json()["decisions"]} >= {"registered", "not_registered"}


def neutral(row: int, unit: str, *first: str) -> dict[str, Any]:
    """The answer to an NGO of a CNIC held by no household inside its agreement."""
    decision = first[0] if first else "refer_to_agency"
    return {
        "row": row,
        "decision": decision,
        "reasons": [*first, "refer_to_agency"],
        "rank": None,
        "amount": None,
        "cut_line": None,
        "failed_rules": None,
        "unit": unit,
        "duplicate_group": None,
    }


@pytest.mark.parametrize("with_run", [True, False])
def test_ngo_gets_one_neutral_answer_for_registered_outside_and_not_registered(
    live: Service, with_run: bool
) -> None:
    claims = [
        claim(CNICS[100], "PK70301"),
        claim(CNICS[200], district="PK703"),
        claim(CNICS[400], "PK70301"),  # household in Larkana, outside the NGO's Dadu
        claim(STRANGERS[0], "PK70302", "PK703"),  # no household
        claim(CNICS[400], "PK70302"),  # repeated: registered outside
        claim(STRANGERS[0], "PK70301"),  # repeated: no household
        claim("12345", "PK70301"),
    ]
    r = post(live, "ngo", claims, **({"run_id": live.run_id} if with_run else {}))
    assert r.status_code == 200, r.text
    rows = by_row(r)
    if with_run:
        assert (rows[1]["decision"], rows[1]["rank"], rows[1]["amount"]) == (
            "in_caseload",
            1,
            30_000,
        )
        assert rows[2]["decision"] == "eligible_not_selected"
        assert rows[2]["cut_line"] is None and rows[2]["rank"] is None
    else:
        assert rows[1]["decision"] == rows[2]["decision"] == "registered"
    assert rows[3] == neutral(3, "PK70301")
    assert rows[4] == neutral(4, "PK70302")
    assert rows[5] == neutral(5, "PK70302", "duplicate_claim")
    assert rows[6] == neutral(6, "PK70301", "duplicate_claim")
    assert rows[7]["decision"] == "invalid_cnic"
    body = r.json()
    assert body["counts"]["refer_to_agency"] == 2 and body["reasons"]["refer_to_agency"] == 4
    for hint in ("PK71303", "PK713", "Larkana", "registered_outside", "not_registered", "outside"):
        assert hint not in r.text, hint


def test_ngo_gets_the_location_mismatch_flag_only_with_a_tehsil_field(live: Service) -> None:
    # household 300 lies in Johi (PK70302); the claim states Dadu (PK70301)
    batch = [claim(CNICS[300], "PK70301", "PK703")]
    agency = by_row(post(live, "agency", batch))[1]
    assert agency["reasons"] == ["registered", "stated_location_mismatch"]
    ngo = by_row(post(live, "ngo", batch))[1]  # its agreement grants tehsil
    assert ngo["reasons"] == ["registered", "stated_location_mismatch"], ngo
    assert ngo["unit"] == "PK70302"
    r = post(live, "ngo_other", batch)  # its agreement grants district only
    assert r.status_code == 200, r.text
    assert by_row(r)[1]["reasons"] == ["registered"] and by_row(r)[1]["unit"] == "PK70301"
    assert "mismatch" not in r.text and "PK70302" not in r.text


def test_ngo_batch_with_a_claim_outside_its_agreement_is_refused_whole(live: Service) -> None:
    inside = claim(CNICS[100], "PK70301")
    details = []
    for outside in (
        claim(CNICS[400], "PK71303"),  # registered, outside
        claim(STRANGERS[1], "PK71303"),  # not registered, outside
        claim(STRANGERS[1], "Dadu", "Dadu"),  # names, not codes
        claim(STRANGERS[1]),  # no unit
        claim(STRANGERS[1], "PK70301", "PK713"),  # one stated unit outside
    ):
        r = post(live, "ngo", [inside, outside], run_id=live.run_id)
        assert r.status_code == 403, r.text
        assert "rows 2)" in r.json()["detail"] and "Nothing was checked" in r.json()["detail"]
        details.append(r.json()["detail"])
    assert len(set(details)) == 1  # the refusal says nothing of anyone's registration
    assert post(live, "ngo_expired", [inside]).status_code == 403
    assert post(live, "ngo_other", [inside], run_id=live.run_id).status_code == 404


def test_planners_are_refused_and_audited(live: Service) -> None:
    # a batch of copies of one CNIC would tell its decision through the counts
    r = post(live, "planner", [claim(CNICS[100], "PK70301")] * 12)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "registered" not in r.text and "decisions" not in r.text
    with live.app.state.sessionmaker() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.route == "/claims", AuditEvent.role == "planner")
        ).all()
    assert events and {e.outcome for e in events} == {403}


def test_batch_over_the_limit_is_413_and_bad_bodies_are_422(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live.app.state.settings, "claims_max_batch", 3)
    assert post(live, "agency", [claim(CNICS[100])] * 3).status_code == 200
    r = post(live, "agency", [claim(CNICS[100])] * 4)
    assert r.status_code == 413 and "at most 3" in r.json()["detail"], r.text
    bad = live.client.post(
        "/claims",
        content=b'{"claims": [{"cnic": "4130412345671"',
        headers={**live.headers("agency"), "Content-Type": "application/json"},
    )
    assert bad.status_code == 422 and "4130412345671" not in bad.text
    for body in (
        {"claims": []},
        {"claims": [{"cnic": 4130412345671}]},
        {"claims": [{"phone": PHONE}]},
        {"claims": [{"cnic": CNICS[100], "extra": "x"}]},
    ):
        r = live.post("agency", "/claims", json=body)
        assert r.status_code == 422, r.text
        assert "4130412345671" not in r.text and "7654321" not in r.text
    r = post(live, "agency", [claim("4130-41234567-1"), claim("abc"), claim("1111111111111")])
    assert [d["decision"] for d in r.json()["decisions"]] == [
        "registered",
        "invalid_cnic",
        "invalid_cnic",
    ]


def test_claims_body_has_its_own_limit_above_the_json_one(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a full batch is larger than other JSON bodies: /claims has its own limit, and only it
    body = json.dumps({"claims": [claim(CNICS[100], "PK70301", "PK703", PHONE)] * 40}).encode()
    headers = {**live.headers("agency"), "Content-Type": "application/json"}
    monkeypatch.setattr(live.app.state.settings, "max_json_bytes", len(body) // 2)
    monkeypatch.setattr(live.app.state.settings, "claims_max_json_bytes", len(body))
    assert live.client.post("/claims", content=body, headers=headers).status_code == 200
    monkeypatch.setattr(live.app.state.settings, "claims_max_json_bytes", len(body) - 1)
    r = live.client.post("/claims", content=body, headers=headers)
    assert r.status_code == 413 and CNICS[100] not in r.text, r.text
    other = live.client.post("/grievances", content=body[: len(body) // 2 + 1], headers=headers)
    assert other.status_code == 413  # the general limit still holds elsewhere


def test_rate_limit_per_key_is_429_with_retry_after(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live.app.state.sessionmaker() as session, session.begin():
        token, _ = create_key(session, "agency")
        other, _ = create_key(session, "agency")
    monkeypatch.setattr(live.app.state.settings, "claims_per_minute", 2)
    send = {"claims": [claim(CNICS[100])]}

    def call(key: str, body: dict[str, Any] = send) -> Any:
        return live.client.post("/claims", json=body, headers={"Authorization": f"Bearer {key}"})

    assert call(token, {"claims": []}).status_code == 422  # a refused call counts too
    assert call(token).status_code == 200
    for _ in range(2):
        r = call(token)
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60, r.text
    assert "2 claims batches" in r.json()["detail"]
    assert call(other).status_code == 200  # another key of the same agency


def test_one_batch_in_flight_per_key_a_parallel_one_is_429(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rahat.api.service import claims as claims_service

    with live.app.state.sessionmaker() as session, session.begin():
        token, _ = create_key(session, "agency")
        other, _ = create_key(session, "agency")
    entered, release = threading.Event(), threading.Event()
    real = claims_service.check_claims_rate

    def held(*args: Any, **kwargs: Any) -> None:
        if not entered.is_set():  # only the first call waits, inside the handler
            entered.set()
            assert release.wait(30)
        real(*args, **kwargs)

    monkeypatch.setattr(claims_service, "check_claims_rate", held)

    def call(key: str) -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        return live.client.post("/claims", json={"claims": [claim(CNICS[100])]}, headers=headers)

    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(call(token)))
    thread.start()
    try:
        assert entered.wait(30)
        r = call(token)  # the same key while the first is in flight
        assert r.status_code == 429 and r.headers["Retry-After"] == "1", r.text
        assert "one batch at a time" in r.json()["detail"]
        assert call(other).status_code == 200  # another key is not held
    finally:
        release.set()
        thread.join(30)
    assert first[0].status_code == 200, first[0].text
    assert call(token).status_code == 200  # released once answered
    assert not claims_service.IN_FLIGHT._keys


def test_revoked_key_is_401(live: Service) -> None:
    with live.app.state.sessionmaker() as session, session.begin():
        token, _ = create_key(session, "agency")
        revoke_key(session, token_prefix(token))
    r = live.client.post(
        "/claims",
        json={"claims": [claim(CNICS[100])]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 401, r.text
    assert post(live, None, [claim(CNICS[100])]).status_code == 401


def test_no_identity_secret_is_503_without_any_value(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    r = post(live, "agency", [claim(CNICS[100])])
    assert r.status_code == 503 and SECRET_ENV in r.json()["detail"], r.text
    monkeypatch.setenv(SECRET_ENV, "zz" * 32)
    r = post(live, "agency", [claim(CNICS[100])])
    assert r.status_code == 503 and "zz" not in r.json()["detail"], r.text


def test_registry_without_tokens_is_409(live: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    path = live.app.state.settings.registry_path.parent / "no_tokens.parquet"
    monkeypatch.setattr(live.app.state.settings, "registry_path", path)
    r = post(live, "agency", [claim(CNICS[100])])
    assert r.status_code == 409 and "cnic_token" in r.json()["detail"], r.text
    assert "no_tokens" not in r.text


def test_run_the_caller_may_not_read_is_404(live: Service) -> None:
    r = post(live, "agency", [claim(CNICS[100])], run_id=live.planner_run_id)
    assert r.status_code == 404, r.text
    # an id sent is never quoted back: a CNIC pasted as the run id stays unanswered
    r = post(live, "agency", [claim(CNICS[100])], run_id=STRANGERS[0])
    assert r.status_code == 404 and STRANGERS[0] not in r.text, r.text


def test_no_raw_cnic_or_phone_in_responses_audit_or_logs(
    live: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = [post(live, who, AGENCY_BATCH, run_id=live.run_id).text for who in ("agency", "admin")]
    texts.append(post(live, "planner", AGENCY_BATCH).text)
    texts.append(post(live, "ngo", AGENCY_BATCH[:3], run_id=live.run_id).text)
    texts.append(post(live, "ngo", AGENCY_BATCH, run_id=live.run_id).text)  # refused
    with live.app.state.sessionmaker() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.route == "/claims")).all()
        columns = [c.key for c in AuditEvent.__table__.columns]
        audit = [json.dumps({c: str(getattr(e, c)) for c in columns}) for e in events]
    assert events and all(e.action == "claims.check" for e in events if e.outcome in (200, 403))
    checked = [e for e in events if e.outcome == 200 and e.run_id == live.run_id]
    assert checked and checked[0].filter["claims"] == len(AGENCY_BATCH)
    assert any(e.agreement_id is not None for e in events)
    everything = "\n".join([*texts, *audit, caplog.text])
    for secret in [*CNICS.values(), *STRANGERS, PHONE, *PHONE_FORMS, SECRET_HEX, "7654321"]:
        assert secret not in everything, secret
    for cnic in CNICS.values():
        assert f"{cnic[:5]}-{cnic[5:12]}-{cnic[12]}" not in everything


def test_rate_limit_counts_answered_calls_in_the_minute_and_says_when_one_leaves(
    live: Service,
) -> None:
    import datetime as dt

    from rahat.api.service.audit import event_row
    from rahat.api.service.claims import ClaimsRateLimitedError, check_claims_rate
    from rahat.api.service.models import utcnow

    settings = live.app.state.settings.model_copy(update={"claims_per_minute": 2})
    now, prefix = utcnow(), "rahat_ratetest01"

    def event(seconds_ago: float, outcome: int, route: str = "/claims") -> AuditEvent:
        at = now - dt.timedelta(seconds=seconds_ago)
        return event_row(
            organisation="agency",
            role="agency",
            action="claims.check",
            outcome=outcome,
            key_prefix=prefix,
            method="POST",
            route=route,
            at=at,
        )

    with live.app.state.sessionmaker() as session, session.begin():
        session.add_all([event(70, 200), event(50, 200), event(5, 429), event(4, 401)])
        session.add_all([event(3, 200, "/whatif")])
    with live.app.state.sessionmaker() as session:
        check_claims_rate(session, prefix, settings, now=now)  # one counted call
    with live.app.state.sessionmaker() as session, session.begin():
        session.add(event(20, 422))
    with live.app.state.sessionmaker() as session:
        with pytest.raises(ClaimsRateLimitedError) as refused:
            check_claims_rate(session, prefix, settings, now=now)
        assert refused.value.retry_after == 10  # the call 50 s ago leaves the minute
        check_claims_rate(session, prefix, settings, now=now + dt.timedelta(seconds=11))


def unregistered(i: int, tehsil: str = "PK70301", **fields: str) -> dict[str, str]:
    """A claim from a valid CNIC no household holds (``i`` < 10**6), stating ``tehsil``."""
    return {**claim(f"4130590{i:06d}", tehsil, "PK703"), **fields}


#: Rows 1-2 one phone; 3-4 one name and address (punctuation and case aside); 5 alone; 6 the
#: name and address of rows 3-4 but registered; 7 the same but in Johi.
SAME = {"name": "Muhammad Aslam Khan", "address": "House 12, Street 4, Dadu"}
GROUPED_BATCH = [
    unregistered(1, phone="0301-2223334"),
    unregistered(2, phone="03012223334"),
    unregistered(3, phone="0302-0000001", **SAME),
    unregistered(4, name="muhammad aslam khan.", address="house 12 street 4 DADU"),
    unregistered(5, name="Bibi Zainab", address="House 90, Dadu"),
    {**claim(CNICS[100], "PK70301", "PK703"), **SAME},
    unregistered(7, "PK70302", **SAME),
]


def test_agency_gets_probable_duplicate_groups_linking_rows_of_the_batch(live: Service) -> None:
    r = post(live, "agency", GROUPED_BATCH)
    assert r.status_code == 200, r.text
    group = {row: d["duplicate_group"] for row, d in by_row(r).items()}
    assert group[1] == group[2] and group[3] == group[4]
    assert None not in (group[1], group[3]) and group[1] != group[3]
    assert group[5] is None and group[6] is None and group[7] is None
    assert r.json()["duplicate_groups"] == {
        "groups": 2,
        "claims": 4,
        "linked_by": {"phone": 1, "name+address": 1, "phone;name+address": 0},
    }
    # the engine's grouping of the same claims, as `rahat claims check` writes it
    from rahat.api.service.claims import ClaimIn, claims_frame
    from rahat.engine.claims.decide import RegistryIndex, decide_claims
    from rahat.engine.claims.duplicates import group_unregistered
    from rahat.engine.claims.read import claims_from_frame
    from rahat.geo.registry.model import Registry

    frame = claims_frame([ClaimIn(**c) for c in GROUPED_BATCH])
    batch = claims_from_frame(frame, bytes.fromhex(SECRET_HEX))
    index = RegistryIndex.build(Registry.from_frame(registry_frame()))
    expected = group_unregistered(batch, decide_claims(batch, index, velocity=3)).group
    assert [g or -1 for g in group.values()] == expected.tolist()
    for text in ("Aslam", "aslam", "Zainab", "House 12", "2223334"):
        assert text not in r.text


def test_ngo_answers_carry_no_group_links(live: Service) -> None:
    r = post(live, "ngo", GROUPED_BATCH[:6], run_id=live.run_id)
    assert r.status_code == 200, r.text
    assert r.json()["duplicate_groups"] is None
    assert [d["duplicate_group"] for d in r.json()["decisions"]] == [None] * 6
