"""schemathesis against the app's own OpenAPI schema (in-process ASGI): no 5xx, ever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from conftest import add_finished_run, add_hazard_record, caseload_table, make_settings, populate
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from rahat.api.service.app import create_app
from rahat.geo.registry.identity import SECRET_ENV

TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, registry_file: Path
) -> Iterator[schemathesis.BaseSchema]:
    root: Path = tmp_path_factory.mktemp("schema")
    # a served registry, so runs and what-ifs get past "no registry" (503) to their real work,
    # and an identity secret, so claims and grievances get past "no secret" (503)
    app = create_app(make_settings(root, max_upload_bytes=100_000, registry_path=registry_file))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, "5e" * 32)
        with TestClient(app):
            tokens, org_ids = populate(app)
            add_finished_run(app, caseload_table(), org_ids["agency"])
            add_hazard_record(app, org_ids["agency"])
        TOKENS.update(tokens)
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, a bounded number of generated requests each, as admin and as NGO."""
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 13
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            for who in ("admin", "ngo"):
                response = case.call(headers={"Authorization": f"Bearer {TOKENS[who]}"})
                case.validate_response(response, checks=[not_a_server_error])

        check()
