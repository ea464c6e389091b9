"""Issue 9, findings 1 and 2: agreements and filters match units by code at one level."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from conftest import TODAY, Service, add_finished_run

from rahat.api.service.admin import add_agreement, add_organisation, create_key
from rahat.api.service.models import RunShare

#: (province, district, district_pcode, tehsil, tehsil_pcode, households): units whose names
#: collide across levels and provinces.
COLLIDING = [
    ("Khyber Pakhtunkhwa", "Nowshera", None, "Nowshera", None, 30),
    ("Khyber Pakhtunkhwa", "Nowshera", None, "Pabbi", None, 20),
    ("Punjab", "Khushab", None, "Nowshera", None, 25),  # a tehsil named like the KP district
    ("Sindh", "Dadu", "PK703", "Johi", "PK70302", 30),
    ("Sindh", "Naushahro Feroze", "PK717", "Dadu", None, 15),  # a tehsil named 'Dadu'
]


def colliding_caseload() -> pa.Table:
    columns: dict[str, list[Any]] = {
        k: [] for k in ("province", "district", "district_pcode", "tehsil", "tehsil_pcode")
    }
    for *names, n in COLLIDING:
        for key, value in zip(columns, names, strict=True):
            columns[key] += [value] * n
    n = len(columns["province"])
    return pa.table(
        {
            "household_id": pa.array(np.arange(n) + 5_000_000, pa.int64()),
            "rank": pa.array(np.arange(n) + 1, pa.int64()),
            "selected": pa.array(np.ones(n, bool)),
            "eligible": pa.array(np.ones(n, bool)),
            **{k: pa.array(v, pa.string()) for k, v in columns.items()},
            "lon": pa.array(np.linspace(67, 72, n)),
            "lat": pa.array(np.linspace(25, 34, n)),
        }
    )


def ngo_with(service: Service, name: str, units: list[str], fields: list[str], run_id: str) -> str:
    """A new NGO with an agreement under which ``run_id`` is published; its API token."""
    with service.app.state.sessionmaker() as session, session.begin():
        add_organisation(session, name, "ngo")
        token, _ = create_key(session, name)
        agreement = add_agreement(
            session,
            name,
            units=units,
            fields=fields,
            purpose="tests",
            valid_from=TODAY - dt.timedelta(days=1),
            valid_to=TODAY + dt.timedelta(days=30),
            max_rows=1000,
        )
        session.add(RunShare(run_id=run_id, agreement_id=agreement.id, published_by=1))
    return token


def households(service: Service, token: str, run_id: str, **params: Any) -> Any:
    return service.client.get(
        f"/runs/{run_id}/households",
        params={"format": "json", "limit": 1000, **params},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
def colliding(fresh_service: Service) -> tuple[Service, str]:
    run_id = add_finished_run(
        fresh_service.app, colliding_caseload(), fresh_service.org_ids["agency"]
    )
    return fresh_service, run_id


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        (["district:Nowshera"], {("Khyber Pakhtunkhwa", "Nowshera")}),
        (["PK-KP/nowshera"], {("Khyber Pakhtunkhwa", "Nowshera")}),
        (["tehsil:PK-PB/khushab/nowshera"], {("Punjab", "Khushab")}),
        (["district:Dadu"], {("Sindh", "Dadu")}),
        (["district:Naushahro Feroze"], {("Sindh", "Naushahro Feroze")}),
    ],
)
def test_agreement_units_match_by_code_at_their_level(
    colliding: tuple[Service, str], units: list[str], expected: set[tuple[str, str]]
) -> None:
    service, run_id = colliding
    token = ngo_with(service, "collide", units, ["province", "district", "tehsil", "lon"], run_id)
    r = households(service, token, run_id)
    assert r.status_code == 200, r.text
    rows = r.json()["items"]
    assert rows and {(row["province"], row["district"]) for row in rows} == expected
    want = sum(n for p, d, *_, n in COLLIDING if (p, d) in expected)
    if units[0].startswith("tehsil"):
        want = 25
    assert len(rows) == want


def test_filters_only_by_granted_levels(colliding: tuple[Service, str]) -> None:
    service, run_id = colliding
    token = ngo_with(service, "rank-only", ["district:Dadu"], ["rank"], run_id)
    assert households(service, token, run_id).status_code == 200
    for unit in ("tehsil:Johi", "PK70302", "district:PK703", "province:Sindh"):
        r = households(service, token, run_id, unit=unit)
        assert r.status_code == 403, (unit, r.text)
        assert "does not grant" in r.json()["detail"]
    token = ngo_with(service, "district-only", ["province:Sindh"], ["district", "rank"], run_id)
    r = households(service, token, run_id, unit="district:PK703")
    assert r.status_code == 200 and len(r.json()["items"]) == 30
    assert households(service, token, run_id, unit="tehsil:PK70302").status_code == 403
    # A unit outside the agreement is refused whatever the caseload holds.
    r = households(service, token, run_id, unit="district:Nowshera")
    assert r.status_code == 403 and "outside" in r.json()["detail"]


def test_unknown_field_lists_only_what_may_be_received(colliding: tuple[Service, str]) -> None:
    service, run_id = colliding
    token = ngo_with(service, "rank-fields", ["district:Dadu"], ["rank"], run_id)
    r = households(service, token, run_id, fields="pmt_score")
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert "rank" in detail
    for hidden in ("household_id", "lon", "lat", "province", "district", "selected"):
        assert f" {hidden}" not in detail and f"{hidden}," not in detail, hidden
