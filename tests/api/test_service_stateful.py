"""Stateful schemathesis over the whole Relief API schema, as every role (in-process ASGI).

Schemathesis 4 infers the links between operations from the schema (``GET /runs`` gives the
ids that ``GET /runs/{run_id}`` takes, ...). Two operations take their ids in a request body,
where no link is inferred; the test declares those links itself when it loads the schema
(``GET /runs -> POST /runs/compare``, ``GET /hazards -> POST /hazards/diff``). ``/healthz``
takes nothing and produces nothing; it, and any operation the chained scenarios of one run
happen not to reach, is then called on its own (:func:`top_up`).

Every response is checked for server errors and for conformance to the schema (status code,
content type, response body). Failures are collected rather than raised at once, so one run
reports every distinct (operation, status, check) that failed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from conftest import add_finished_run, add_hazard_record, caseload_table, make_settings, populate
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from rahat.api.service.app import create_app
from rahat.geo.registry.identity import SECRET_ENV

ROLES = ("admin", "agency", "planner", "ngo")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Scenarios (hypothesis examples) per role and steps per scenario.
EXAMPLES = 12
#: Generated calls of an operation no chained scenario reached.
TOP_UP = 3
STEPS = 6
MAX_SECONDS = 90.0
PROBLEM = "application/problem+json"
#: Statuses the app answers but does not declare, tolerated while the schema still lacks them
#: (a hazard record whose stored file cannot be read is a 400 of ``POST /hazards/diff``).
#: Statuses an operation answers that FastAPI would not declare by itself.
UNDECLARED_STATUSES = {("POST /hazards/diff", 400)}

#: Links the schema does not declare and schemathesis cannot infer (the ids go in a body).
EXTRA_LINKS = {
    ("/runs", "get"): {
        "CompareTwoRuns": {
            "operationRef": "#/paths/~1runs~1compare/post",
            "requestBody": {"run_a": "$response.body#/0/id", "run_b": "$response.body#/1/id"},
        }
    },
    ("/hazards", "get"): {
        "DiffTwoHazards": {
            "operationRef": "#/paths/~1hazards~1diff/post",
            "requestBody": {"old": "$response.body#/0/id", "new": "$response.body#/0/id"},
        }
    },
}


@dataclass
class Failure:
    """One failed check of one response."""

    operation: str
    status: int
    check: str
    message: str


@dataclass
class Outcome:
    """What one role's stateful run did."""

    steps: int = 0
    operations: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)


@dataclass
class Api:
    """The app, its schema (raw, and loaded with :data:`EXTRA_LINKS`), its state machine."""

    app: FastAPI
    raw: dict[str, Any]
    tokens: dict[str, str]
    schema: Any
    machine: type[Any]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Api]:
    """An app with every role's key, a finished run of the agency's, and a hazard record."""
    root: Path = tmp_path_factory.mktemp("stateful")
    # a served registry, so runs and what-ifs get past "no registry" (503) to their real work,
    # and an identity secret, so claims and grievances get past "no secret" (503)
    app = create_app(make_settings(root, max_upload_bytes=100_000, registry_path=registry_file))
    with (
        pytest.MonkeyPatch.context() as patch,
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        patch.setenv(SECRET_ENV, "5e" * 32)
        tokens, org_ids = populate(app)
        add_finished_run(app, caseload_table(), org_ids["agency"])
        add_finished_run(app, caseload_table(seed=1), org_ids["agency"])
        add_hazard_record(app, org_ids["agency"])
        raw = client.get("/openapi.json").json()
        schema = schemathesis.openapi.from_dict(with_links(raw))
        schema.app = app
        yield Api(app, raw, tokens, schema, schema.as_state_machine())


def with_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The schema ``raw`` with :data:`EXTRA_LINKS` added to the 200 responses."""
    schema = copy.deepcopy(raw)
    for (path, method), links in EXTRA_LINKS.items():
        response = schema["paths"][path][method]["responses"]["200"]
        response.setdefault("links", {}).update(links)
    return schema


def undeclared_problem_422(raw: dict[str, Any]) -> set[str]:
    """Operations whose documented 422 response lacks ``application/problem+json``."""
    out = set()
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            content = operation.get("responses", {}).get("422", {}).get("content")
            if content is not None and PROBLEM not in content:
                out.add(f"{method.upper()} {path}")
    return out


def _record(outcome: Outcome, case: schemathesis.Case, response: Any) -> None:
    outcome.steps += 1
    outcome.operations.add(case.operation.label)
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            outcome.failures.append(
                Failure(
                    case.operation.label,
                    response.status_code,
                    type(failure).__name__,
                    str(getattr(failure, "message", failure)).replace("\n", " ")[:300],
                )
            )


def run_as(api: Api, who: str) -> Outcome:
    """Run the state machine as ``who``; every response of every step is checked."""
    outcome = Outcome()
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}

    class Workflow(api.machine):  # type: ignore[name-defined]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            _record(outcome, case, response)

    Workflow.run(
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
    )
    return outcome


def top_up(api: Api, who: str, outcome: Outcome) -> None:
    """Call every operation the state machine did not reach as ``who``, a few times each.

    Which operations a scenario reaches depends on what earlier responses held (fresh run
    ids, ...); this makes sure every role calls every operation on every run of the test.
    """
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}
    for operation in (r.ok() for r in api.schema.get_all_operations()):
        if operation.label in outcome.operations:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=TOP_UP,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        def call(case: schemathesis.Case) -> None:
            _record(outcome, case, case.call(headers=headers))

        call()


@pytest.mark.parametrize("who", ROLES)
def test_stateful_whole_schema(api: Api, who: str) -> None:
    """Chained requests as ``who`` over every operation: 0 server errors, 0 conformance
    failures (but the known ones, while the schema still has them)."""
    started = time.perf_counter()
    outcome = run_as(api, who)
    chained = outcome.steps
    top_up(api, who, outcome)
    seconds = time.perf_counter() - started
    distinct = sorted({(f.operation, f.status, f.check) for f in outcome.failures})
    print(
        f"\nstateful as {who}: {outcome.steps} checked requests ({chained} in chained "
        f"scenarios) over {len(outcome.operations)} operations in {seconds:.1f} s; "
        f"known failures {distinct}"
    )
    assert seconds < MAX_SECONDS
    assert chained >= EXAMPLES * 2, chained
    everything = {f"{m.upper()} {p}" for p, ops in api.raw["paths"].items() for m in ops}
    assert outcome.operations == everything, sorted(everything - outcome.operations)
    errors = [f for f in outcome.failures if f.status >= 500 or f.check == "ServerError"]
    assert not errors, errors
    assert not outcome.failures, outcome.failures  # 0 conformance failures


def test_every_422_is_documented_as_a_problem_document(api: Api) -> None:
    """The 422 the app sends is ``application/problem+json``; the schema must say so."""
    assert not undeclared_problem_422(api.raw), sorted(undeclared_problem_422(api.raw))


def test_hazard_diff_declares_400(api: Api) -> None:
    """A stored hazard that cannot be read makes ``POST /hazards/diff`` answer 400."""
    for label, status in UNDECLARED_STATUSES:
        method, path = label.split(" ", 1)
        assert str(status) in api.raw["paths"][path][method.lower()]["responses"], label
