"""The household export reads the boundaries only when some unit filter needs them (issue 12).

Loading the gazetteer took about a second, on the first export of a process, for requests
that filter by no admin unit (an administrator's whole caseload); such a request must not
load it, and must answer the same bytes.
"""

from __future__ import annotations

import pytest
from conftest import Service

from rahat.api.service import export


def test_export_without_units_does_not_load_the_gazetteer(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"format": "csv", "selected_only": "false"}
    url = f"/runs/{service.run_id}/households"
    before = service.get("admin", url, params=params)
    assert before.status_code == 200

    def no_gazetteer() -> None:
        raise AssertionError("the gazetteer was loaded for a request without unit filters")

    monkeypatch.setattr(export, "gazetteer", no_gazetteer)
    after = service.get("admin", url, params=params)
    assert after.status_code == 200 and after.content == before.content
    assert after.headers["x-row-count"] == str(service.table.num_rows)
