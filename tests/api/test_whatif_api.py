"""``POST /whatif``: roles, k-suppression, the differencing guard, errors and the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Service, make_settings, start_service, wait_for_run
from sqlalchemy import func, select

from rahat.api.service.models import AuditEvent
from rahat.api.service.whatif import forget_history

#: An inline scenario on the documented synthetic flood-depth raster (no server file).
SCENARIO: dict[str, Any] = {
    "name": "whatif_api",
    "seed": 3,
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {"pmt_cutoff": 30, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    "benefit": {"kind": "fixed", "amount": 25000},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Service]:
    """A service on SQLite with a real (small synthetic) registry."""
    root = tmp_path_factory.mktemp("whatif")
    yield from start_service(make_settings(root, registry_path=registry_file))


@pytest.fixture(autouse=True)
def _no_history() -> Iterator[None]:
    forget_history()
    yield
    forget_history()


def ask(service: Service, who: str | None, overrides: dict[str, Any], **body: Any) -> Any:
    payload = {"scenario": SCENARIO, "overrides": overrides, **body}
    return service.post(who, "/whatif", json=payload)


def test_planner_and_agency_get_aggregates_others_are_refused(served: Service) -> None:
    for who in ("planner", "agency"):
        forget_history()
        r = ask(served, who, {"pmt_cutoff": 45})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["overrides"] == {"eligibility.pmt_cutoff": 45}
        assert body["k"] == 10 and body["level"] == "district"
        assert "household_id" not in r.text and "households" in body["base"]["totals"]
    assert ask(served, "ngo", {"pmt_cutoff": 45}).status_code == 403
    assert ask(served, None, {"pmt_cutoff": 45}).status_code == 401


def test_small_cells_are_suppressed_as_in_run_summaries(served: Service) -> None:
    admin = ask(served, "admin", {"pmt_cutoff": 45}).json()
    planner = ask(served, "planner", {"pmt_cutoff": 45}).json()
    assert admin["k"] is None
    for side in ("base", "variant"):
        units = admin[side]["units"]
        small = [u for u in units if 0 < u["selected"] < 10]
        assert small, "the fixture should have small districts"
        shown = planner[side]["units"]
        assert [u["district"] for u in shown] == [u["district"] for u in units]
        for raw, seen in zip(units, shown, strict=True):
            if 0 < raw["selected"] < 10 or 0 < raw["households"] < 10:
                assert seen["suppressed"] and seen["selected"] is None
            if not seen["suppressed"]:
                assert seen["selected"] == raw["selected"]
        assert any(u["suppressed"] for u in shown)


def test_no_registry_is_503(service: Service) -> None:
    r = ask(service, "planner", {"pmt_cutoff": 35})
    assert r.status_code == 503 and "registry" in r.json()["detail"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"bogus": 3},
        {"hazards.0.radius_m": 500},
        {"pmt_cutoff": "abc"},
        {"eligibility.hazard.7.min_intensity": 1},
        {f"k{i}": 1 for i in range(21)},
        {"x" * 201: 1},
        {},
    ],
    ids=["unknown", "overlay", "value", "index", "too-many", "long-key", "none"],
)
def test_bad_overrides_are_422_problems(served: Service, overrides: dict[str, Any]) -> None:
    r = ask(served, "planner", overrides)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_whatif_is_audited(served: Service) -> None:
    sessions = served.app.state.sessionmaker
    with sessions() as session:
        before = int(session.scalar(select(func.max(AuditEvent.id))) or 0)
    assert ask(served, "agency", {"pmt_cutoff": 45}).status_code == 200
    with sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    assert [(e.action, e.method, e.outcome, e.organisation) for e in events] == [
        ("whatif.create", "POST", 200, "agency")
    ]


def test_a_tiny_step_cannot_be_read_by_differencing_two_whatifs(served: Service) -> None:
    """Two what-ifs whose variants differ by less than k households: the second is refused.

    Subtracting the two answers would give the figures of the few households between the two
    cut-offs (a suppressed cell); the guard refuses the second, whoever asks it.
    """
    first = ask(served, "planner", {"pmt_cutoff": 45})
    assert first.status_code == 200, first.text
    again = ask(served, "planner", {"pmt_cutoff": 45})  # the same what-if discloses nothing new
    assert again.status_code == 200 and again.json() == first.json()
    second = ask(served, "planner", {"pmt_cutoff": 45.0001})
    assert second.status_code == 403, second.text
    assert second.json()["type"].endswith("figures-withheld")
    # and within one what-if: the variant equal to the base although its inputs differ
    forget_history()
    alone = ask(served, "planner", {"pmt_cutoff": 30.0001})
    assert alone.status_code == 403
    # another organisation has a history of its own; admins are not guarded
    assert ask(served, "agency", {"pmt_cutoff": 45.0001}).status_code == 200
    assert ask(served, "admin", {"pmt_cutoff": 30.0001}).status_code == 200


def test_a_whatif_of_a_scenario_just_run_is_answered(served: Service) -> None:
    """The page opens on the scenario as it is: the same caseload as the organisation's run.

    The run's stored scenario and the what-if's are the same inputs written differently (the
    run keeps what was sent, the what-if the scenario model's full form, with a borrowed
    budget resolved): the guard must not read that as "unchanged although the inputs differ".
    """
    scenario = {**SCENARIO, "budget": {"total": 25000 * 40}}
    r = served.post("agency", "/runs", json={"scenario": scenario})
    assert r.status_code == 202, r.text
    assert wait_for_run(served, r.json()["id"])["status"] == "succeeded"
    body = {
        "scenario": scenario,
        "overrides": {"pmt_cutoff": SCENARIO["eligibility"]["pmt_cutoff"]},
    }
    answer = served.post("agency", "/whatif", json=body)
    assert answer.status_code == 200, answer.text
    # a real step from there is still guarded against the run: a tiny one is refused
    body["overrides"] = {"pmt_cutoff": SCENARIO["eligibility"]["pmt_cutoff"] + 0.0001}
    assert served.post("agency", "/whatif", json=body).status_code == 403
