"""``GET /gap``: the coverage-gap table for planners and agencies, k-suppressed and audited."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import api_client, make_settings, ngo_agreement, populate
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from rahat.api.cli import app as cli
from rahat.api.service import gap as gap_module
from rahat.api.service.app import create_app
from rahat.api.service.gap_view import build_tree
from rahat.api.service.models import AuditEvent
from rahat.engine.gap import GAP_COLUMNS

K = 10


class Client:
    """A started app with one key per organisation of ``conftest.ROLES_OF``."""

    def __init__(self, app: FastAPI, client: TestClient) -> None:
        self.app, self.client = app, client
        self.tokens, _ = populate(app)

    def get(self, who: str | None, url: str) -> Any:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.get(url, headers=headers)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Client]:
    """The API on the session's synthetic registry and the survey written next to it."""
    settings = make_settings(
        tmp_path_factory.mktemp("gap"), registry_path=registry_file, gap_denominators="survey"
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Client(app, client)


def _family_rule_holds(units: dict[str, list[dict[str, Any]]], totals: dict[str, Any]) -> None:
    """No published parent has exactly one suppressed child (no blank is parent minus rest)."""
    parents = {(level, row["unit"]): row for level, rows in units.items() for row in rows}
    above = {"district": "province", "tehsil": "district"}
    families: dict[tuple[str, str] | None, list[bool]] = {}
    for level, rows in units.items():
        for row in rows:
            key = None if level == "province" else (above[level], row["parent"])
            families.setdefault(key, []).append(row["suppressed"])
    for key, hidden in families.items():
        parent = totals if key is None else parents[key]
        if not parent["suppressed"]:
            assert sum(hidden) != 1, key


def test_planners_and_agencies_get_the_table_suppressed_admins_all_ngos_nothing(
    served: Client,
) -> None:
    full = served.get("admin", "/gap?level=district").json()
    assert full["k"] is None and not any(u["suppressed"] for u in full["units"])
    assert full["denominators"] == "survey" and full["survey"] == "survey.parquet"
    for who in ("planner", "agency"):
        response = served.get(who, "/gap?level=district")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["k"] == K and [u["unit"] for u in body["units"]] == [
            u["unit"] for u in full["units"]
        ]
        hidden = [u for u in body["units"] if u["suppressed"]]
        assert hidden and all(u["households_est"] is None for u in hidden)
        assert all(u["registered"] is None and u["unregistered_b40_hi90"] is None for u in hidden)
        # nor how the unit was estimated: "direct" would say it had a large sample
        assert all(u["method"] is None for u in hidden)
        for unit in body["units"]:
            assert set(unit) >= set(GAP_COLUMNS)
            if not unit["suppressed"]:
                assert unit["registered"] >= K  # nothing small is shown
    for who in ("ngo", "ngo_ids", "ngo_none"):
        refused = served.get(who, "/gap")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert served.get(None, "/gap").status_code == 401


def test_no_suppressed_unit_is_its_parent_minus_the_others(served: Client) -> None:
    """At every level a suppressed unit has a suppressed sibling (or its parent is blank)."""
    levels = [
        level
        for level in ("province", "district", "tehsil")
        if served.get("admin", f"/gap?level={level}").status_code == 200
    ]
    views = {level: served.get("planner", f"/gap?level={level}").json() for level in levels}
    units = {level: view["units"] for level, view in views.items()}
    assert any(u["suppressed"] for rows in units.values() for u in rows)
    _family_rule_holds(units, views["province"]["totals"])


def test_a_small_district_is_not_its_province_minus_the_others() -> None:
    """A district of 3 registered households: blanked, and so is a sibling (complement)."""
    rows = [
        ("province", "Sindh", "", 2000, 1500, 200, 300, "Sindh"),
        ("province", "Punjab", "", 3000, 2500, 100, 500, "Punjab"),
        ("district", "Dadu", "PK703", 500, 3, 60, 50, "Sindh|Dadu"),
        ("district", "Larkana", "PK713", 600, 400, 40, 100, "Sindh|Larkana"),
        ("district", "Jamshoro", "PK708", 900, 900, 100, 150, "Sindh|Jamshoro"),
        ("district", "Lahore", "", 3000, 2500, 100, 500, "Punjab|Lahore"),
        ("tehsil", "Johi", "PK70302", 200, 1, 20, 10, "PK70302"),
        ("tehsil", "Dadu", "PK70301", 300, 2, 40, 40, "PK70301"),
    ]
    table = pd.DataFrame(
        [r[:-1] for r in rows],
        columns=[
            "level",
            "unit",
            "pcode",
            "households_est",
            "registered",
            "unregistered_b40_est",
            "stale_records",
        ],
    ).assign(method="direct")
    tree = build_tree(table, [r[-1] for r in rows])
    view = tree.view(K)
    by_unit = {(u["level"], u["unit"]): u for rows_ in view["levels"].values() for u in rows_}
    assert by_unit[("district", "Dadu")]["suppressed"]
    assert by_unit[("tehsil", "Johi")]["parent"] == "Dadu"  # placed by the gazetteer code
    sindh = by_unit[("province", "Sindh")]
    siblings = [by_unit[("district", n)] for n in ("Dadu", "Larkana", "Jamshoro")]
    # Sindh is published: Dadu must not be Sindh minus Larkana and Jamshoro
    assert not sindh["suppressed"]
    assert sum(s["suppressed"] for s in siblings) >= 2
    assert by_unit[("district", "Larkana")]["suppressed"]  # the cheaper complement
    _family_rule_holds(view["levels"], view["totals"])
    assert tree.view(None)["levels"]["district"][0]["registered"] == 3  # admins: all


def test_every_request_is_audited(served: Client) -> None:
    with served.app.state.sessionmaker() as session:
        before = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    served.get("planner", "/gap?level=province")
    served.get("ngo", "/gap?level=district")
    served.get("agency", "/gap?level=nowhere")
    with served.app.state.sessionmaker() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.id > (before or 0))))
    seen = [(e.organisation, e.action, e.outcome, e.filter.get("level"), e.rows) for e in events]
    assert seen == [
        ("planner", "gap.list", 200, "province", 7),
        ("ngo", "gap.list", 403, "district", 0),
        ("agency", "gap.list", 422, "nowhere", 0),
    ]


def test_a_bad_level_is_a_problem(served: Client) -> None:
    for level in ("nowhere", "district;drop", "x" * 41, "tehsil_x"):  # refused before estimating
        response = served.get("agency", f"/gap?level={level}")
        assert response.status_code == 422, level
        assert response.headers["content-type"].startswith("application/problem+json")
    absent = served.get("agency", "/gap?level=district_footprint")
    assert absent.status_code == 422
    assert "province, district" in absent.json()["detail"]


def test_without_a_survey_gap_answers_503_with_what_to_do(
    tmp_path: Path, registry_file: Path
) -> None:
    settings = make_settings(
        tmp_path, registry_path=registry_file, survey_path=tmp_path / "nowhere" / "survey.parquet"
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens, _ = populate(app)
        response = client.get("/gap", headers={"Authorization": f"Bearer {tokens['planner']}"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "RAHAT_SURVEY_PATH" in response.json()["detail"]
    assert str(tmp_path) not in response.text


def test_a_slow_estimate_answers_503_with_retry_after(
    tmp_path: Path, registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gap_module.estimate
    calls: list[float] = []

    def slow(settings: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(1.5)
        return real(settings)

    monkeypatch.setattr(gap_module, "estimate", slow)
    settings = make_settings(
        tmp_path, registry_path=registry_file, gap_denominators="survey", gap_wait_seconds=0.2
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {populate(app)[0]['agency']}"}
        pending = client.get("/gap", headers=headers)
        assert pending.status_code == 503 and pending.headers["Retry-After"]
        deadline = time.monotonic() + 60
        while (answer := client.get("/gap", headers=headers)).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert answer.status_code == 200
        client.get("/gap?level=province", headers=headers)
    assert len(calls) == 1  # computed once, then cached


def test_serve_checks_the_survey_at_start(
    tmp_path: Path, registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    # the option is handed to the application through the environment: restore it afterwards
    monkeypatch.setenv("RAHAT_SURVEY_PATH", "unset")
    monkeypatch.delenv("RAHAT_SURVEY_PATH")
    monkeypatch.setenv("RAHAT_GAP_DENOMINATORS", "census")
    env = {
        "RAHAT_STATE_DIR": str(tmp_path / "state"),
        "RAHAT_CACHE_DIR": str(tmp_path / "c"),
        "RAHAT_REGISTRY_PATH": str(registry_file),
    }
    runner = CliRunner()
    missing = runner.invoke(cli, ["serve", "--survey", str(tmp_path / "none.parquet")], env=env)
    assert missing.exit_code == 2 and not calls
    assert "none.parquet: no such survey file" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("province,district\nSindh,Dadu\n")
    unusable = runner.invoke(cli, ["serve", "--survey", str(bad)], env=env)
    assert unusable.exit_code == 2 and not calls
    assert "design weights" in unusable.stderr
    survey = registry_file.parent / "survey.parquet"
    ok = runner.invoke(
        cli, ["serve", "--survey", str(survey), "--gap-denominators", "survey"], env=env
    )
    assert ok.exit_code == 0, ok.output
    households = len(pd.read_parquet(survey))
    assert f"survey survey.parquet: {households:,} households" in ok.stderr
    assert len(calls) == 1
    assert os.environ["RAHAT_SURVEY_PATH"] == str(survey)
    assert os.environ["RAHAT_GAP_DENOMINATORS"] == "survey"


def test_a_real_server_serves_the_gap_of_the_survey_next_to_its_registry(real_server: Any) -> None:
    proc, tokens = real_server(
        {"plan": "planner", "aid": "ngo"}, ngo_agreement("aid", "district:Dadu", "district")
    )
    with api_client(proc, tokens["planner"]) as client:
        body = client.get("/gap", params={"level": "province"}).json()
        assert body["k"] == K and body["survey"] == "survey.parquet"
        assert body["denominators"] == "census" and len(body["units"]) == 7
    with api_client(proc, tokens["ngo"]) as client:
        assert client.get("/gap").status_code == 403
    assert "survey survey.parquet" in proc.log.read_text()
