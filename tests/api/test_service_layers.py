"""HTTP stays in the HTTP layer: errors mapped once, dependencies injected, closed sets as enums."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rahat.api.service.enums import (
    IN_FLIGHT,
    RERUNNABLE,
    AuditFormat,
    HouseholdFormat,
    Role,
    RunStatus,
)
from rahat.api.service.export import MEDIA_TYPES
from rahat.api.service.problems import install_problem_handlers
from rahat.geo.errors import (
    AccessDeniedError,
    ConflictError,
    InputError,
    NotFoundError,
    RahatError,
    RunInterruptedError,
    UnauthenticatedError,
    UnavailableError,
    UnknownChoiceError,
    UnsupportedMediaTypeError,
)

SERVICE = Path(__file__).resolve().parents[2] / "api" / "service"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (UnauthenticatedError("no key"), 401, "unauthenticated"),
        (AccessDeniedError("no"), 403, "access-denied"),
        (NotFoundError("none"), 404, "not-found"),
        (ConflictError("busy"), 409, "conflict"),
        (UnsupportedMediaTypeError("not multipart"), 415, "unsupported-media-type"),
        (UnknownChoiceError("no such role"), 422, "unknown-choice"),
        (UnavailableError("no registry"), 503, "unavailable"),
    ],
)
def test_each_refusal_is_one_problem_document(error: RahatError, status: int, code: str) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/refuse")
    def refuse() -> None:
        raise error

    with TestClient(app) as client:
        r = client.get("/refuse")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == f"urn:rahat:problem:{code}" and body["detail"] == str(error)
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"


def test_errors_sit_in_the_hierarchy() -> None:
    assert issubclass(RunInterruptedError, RahatError)
    assert not issubclass(RunInterruptedError, InputError)  # never a user's 4xx or exit 2
    for cls in (UnknownChoiceError, UnsupportedMediaTypeError):
        assert issubclass(cls, InputError) and issubclass(cls, ValueError)


def test_parse_names_every_valid_value_on_a_miss() -> None:
    assert Role.parse("ngo") is Role.NGO
    assert RunStatus.parse("failed") is RunStatus.FAILED
    with pytest.raises(UnknownChoiceError) as info:
        Role.parse("donor", "role")
    assert str(info.value) == "unknown role 'donor'; use one of: admin, agency, planner, ngo"
    with pytest.raises(ValueError, match="json, csv, parquet, geojson"):
        HouseholdFormat.parse("xlsx")


def test_enum_members_are_the_stored_and_answered_strings() -> None:
    assert RunStatus.QUEUED == "queued" and f"{RunStatus.SUCCEEDED}" == "succeeded"
    assert [str(s) for s in RunStatus] == [
        "queued",
        "running",
        "succeeded",
        "failed",
        "interrupted",
    ]
    assert set(IN_FLIGHT) == {"queued", "running"} and set(RERUNNABLE) == {"interrupted", "failed"}
    assert set(MEDIA_TYPES) == set(HouseholdFormat)
    assert [str(f) for f in AuditFormat] == ["csv", "jsonl"]


def _sources(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(SERVICE)): p.read_text() for p in folder.rglob("*.py")}


def test_http_exceptions_only_in_routers_and_no_app_state_there() -> None:
    sources = _sources(SERVICE)
    outside = [
        name
        for name, text in sources.items()
        if not name.startswith("routers/") and re.search(r"\bfastapi\b.*\bHTTPException\b", text)
    ]
    assert outside == []
    in_routers = [
        name
        for name, text in sources.items()
        if name.startswith("routers/") and "app.state" in text
    ]
    assert in_routers == []
