"""Issue 15: ``/docs`` of a real ``rahat serve`` renders in Chromium with no internet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import browser_page, pixel_spread, require_browser
from conftest import ServerProcess, ngo_agreement, start_server

#: Grey-level spread below which a screenshot is taken as blank (a white page gives 0).
MIN_SPREAD = 10.0


@pytest.fixture
def sqlite_server(tmp_path: Path, registry_file: Path) -> Iterator[ServerProcess]:
    """``rahat serve`` on SQLite (the browser does not depend on the database)."""
    require_browser()  # skip before starting a server for nothing
    organisations = {"PDMA Sindh": "agency", "Relief NGO": "ngo"}
    agreement = ngo_agreement("Relief NGO", "province:Sindh", "district,benefit")
    for proc, _ in start_server(tmp_path, "sqlite", registry_file, organisations, agreement):
        yield proc


def test_browser_docs_offline(sqlite_server: ServerProcess) -> None:
    with browser_page(sqlite_server.url) as browser:
        response = browser.goto("/docs")
        assert response is not None and response.status == 200
        # Swagger UI's scripts have loaded (or been blocked) by the load event.
        assert not browser.failed(), "the page needs no API key to load"
        browser.assert_offline()
        browser.page.wait_for_selector('.opblock-post .opblock-summary-path[data-path="/runs"]')
        browser.assert_offline()
        shot = browser.screenshot("docs")
    assert pixel_spread(shot) > MIN_SPREAD, "the /docs screenshot is blank"
    loaded = {r.url.removeprefix(sqlite_server.url) for r in browser.responses}
    assert {"/docs", "/openapi.json", "/static/swagger-ui/swagger-ui-bundle.js"} <= loaded


def test_browser_webgl(tmp_path: Path) -> None:
    # MapLibre draws with WebGL: the headless Chromium must offer it (software renderer).
    with browser_page("http://127.0.0.1:9", tmp_path) as browser:
        browser.page.set_content("<p>WebGL</p>")
        assert browser.webgl_renderer() is not None
        browser.assert_offline()
