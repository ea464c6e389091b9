"""Issue 15: the planners' page's runs in Chromium: NGO view, uploads, briefs, comparisons.

The server of :mod:`test_browser_page` (one per module) with two runs of the agency, the flood
run published to the NGO's agreement; a planner's whole page session is checked for anything
that names or places a household. Screenshots go to ``build/screenshots/page_*.png``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import SCREENSHOTS, BrowserPage, browser_page
from conftest import REAL_HAZARD, api_client, run_succeeded
from test_browser_page import (
    BISP,
    FLOOD,
    MIN_SPREAD,
    Served,
    canvas_spread,
    nav_views,
    new_key,
    number,
    open_scenario,
    served,
    set_control,
    sign_in,
)

__all__ = ["served"]  # the module's server fixture

#: Keys whose values would place or name a household.
HOUSEHOLD_KEYS = frozenset({"household_id", "household_ref", "lon", "lat"})
#: URLs whose bodies may hold coordinates: unit shapes, hazard outlines, density cells.
GEOMETRY_URL = re.compile(r"/boundaries/|/hazards/[^/]+/outline|/runs/[^/]+/grid|/static/")


@dataclass
class Runs:
    """The agency's succeeded runs of :data:`FLOOD` (published to the NGO) and :data:`BISP`."""

    flood: str
    bisp: str


@pytest.fixture(scope="module")
def runs(served: Served) -> Iterator[Runs]:
    """Run both scenarios as the agency; publish the flood run to the NGO's agreement."""
    with api_client(served.proc, served.tokens["agency"]) as agency:
        started = [
            agency.post("/runs", json={"scenario_name": name}).json()["id"]
            for name in (FLOOD, BISP)
        ]
        for run_id in started:
            run_succeeded(agency, run_id)
        with api_client(served.proc, served.tokens["ngo"]) as ngo:
            agreement = ngo.get("/me").json()["agreement"]["id"]
        r = agency.post(f"/runs/{started[0]}/publish", json={"agreements": [agreement]})
        assert r.status_code == 200, r.text
    yield Runs(*started)


# -- helpers -------------------------------------------------------------------------------------


def household_keys(value: Any) -> set[str]:
    """Keys of :data:`HOUSEHOLD_KEYS` anywhere in a parsed JSON document."""
    if isinstance(value, dict):
        found = set(HOUSEHOLD_KEYS.intersection(value))
        for item in value.values():
            found |= household_keys(item)
        return found
    if isinstance(value, list):
        return set().union(*(household_keys(item) for item in value)) if value else set()
    return set()


def leaks(body: bytes, content_type: str, registry_ids: frozenset[str]) -> list[str]:
    """What in a response body names or places a household: ids of the registry, keys."""
    text = body.decode("utf-8", "replace")
    numbers = (m.replace(",", "") for m in re.findall(r"\d[\d,]*\d", text))  # 1,234 too
    found = [f"id {m}" for m in numbers if len(m) >= 5 and m in registry_ids]
    if "json" in content_type:
        found += sorted(household_keys(json.loads(text)))
    else:
        found += sorted(set(re.findall(r"\b(household_id|household_ref|lon|lat)\b", text)))
    return found


def test_browser_page_ngo_cannot_open_planner_views(served: Served, runs: Runs) -> None:
    with browser_page(served.proc.url) as browser:
        sign_in(browser, served.tokens["ngo"], "plan")
        assert nav_views(browser) == ["runs"]
        for view in ("plan", "compare"):
            browser.goto(f"/#{view}")  # a hash change: the page stays signed in
            browser.page.wait_for_selector("#view-denied", state="visible")
            assert browser.page.is_hidden("#view-plan") and browser.page.is_hidden("#view-compare")
        browser.page.click('#views button[data-view="runs"]')
        browser.page.wait_for_selector("#runs-table tr[data-run-id]")
        assert browser.page.is_visible("#agreement") and browser.page.is_hidden("#upload")
        row = browser.page.locator(f'#runs-table tr[data-run-id="{runs.flood}"]')
        assert row.get_by_role("button").all_inner_texts() == ["Households (CSV)"]
        browser.screenshot("page_ngo")
        browser.settle()
        asked = [
            r.url
            for r in browser.responses
            if re.search(r"/whatif|/scenarios", r.url) and r.status != 403
        ]
        assert not asked, f"an NGO's page asked for planner figures: {asked}"
        browser.assert_offline()


# -- what reaches the browser --------------------------------------------------------------------


def wait_for_button(browser: BrowserPage, label: str) -> str:
    """Wait for a run's ``label`` button in the runs table; the run's id."""
    button = browser.page.locator(f'#runs-table tr[data-run-id] button:text-is("{label}")').first
    button.wait_for(timeout=120_000)
    run_id = button.locator("xpath=ancestor::tr").get_attribute("data-run-id")
    assert run_id
    return run_id


def open_brief(browser: BrowserPage, run_id: str) -> Any:
    """Click the Brief button of ``run_id``; the new tab, loaded."""
    row = browser.page.locator(f'#runs-table tr[data-run-id="{run_id}"]')
    with browser.page.context.expect_page() as opened:
        row.locator('button:text-is("Brief")').click()
    brief = opened.value
    brief.wait_for_load_state()
    return brief


def test_browser_page_planner_session_leaks_no_household(served: Served) -> None:
    token = new_key(served, "Privacy cell", "planner")
    with browser_page(served.proc.url) as browser:
        sign_in(browser, token)
        open_scenario(browser)
        set_control(browser, "pmt_cutoff", "60")
        browser.page.select_option("#metric", "gap")
        set_control(browser, "amount", "50000")
        # A run of the planner's own, started from the page; its manifest and brief.
        browser.page.click('#views button[data-view="runs"]')
        browser.page.wait_for_selector("#start-run", state="visible")
        browser.page.select_option("#run-scenario", FLOOD)
        browser.page.click("#run-start")
        run_id = wait_for_button(browser, "Manifest")
        browser.page.click(f'#runs-table tr[data-run-id="{run_id}"] button:text-is("Manifest")')
        browser.page.wait_for_selector("#manifest", state="visible")
        browser.screenshot("page_runs")
        open_brief(browser, run_id).close()
        # The run against the current what-if.
        browser.page.click('#views button[data-view="compare"]')
        browser.page.wait_for_selector(f'#compare-a option[value="{run_id}"]', state="attached")
        browser.page.select_option("#compare-b", "whatif")
        browser.page.click("#compare-go")
        browser.page.wait_for_selector("#compare-table tbody tr")
        assert browser.page.is_hidden("#problem"), browser.page.inner_text("#problem")
        browser.assert_offline()
    checked = set()
    with api_client(served.proc, token) as client:
        for response in browser.responses:
            if response.body is None or GEOMETRY_URL.search(response.url):
                continue
            body = response.body
            if not body and response.status == 200:
                # Chromium keeps no body of some loads read as a blob (the brief): ask again.
                body = client.get(response.url).content
            found = leaks(body, response.content_type, served.registry_ids)
            assert not found, f"{response.url} gave the browser {found}"
            checked.add(response.url.removeprefix(served.proc.url).split("?")[0])
    for path in ("/whatif", "/gap", f"/runs/{run_id}/manifest", f"/runs/{run_id}/brief.html"):
        assert path in checked, f"the session's {path} was not checked"
    assert {"/me", "/runs", "/scenarios", f"/runs/{run_id}/summary"} <= checked


# -- runs, briefs, uploads and comparisons -------------------------------------------------------


def test_browser_page_brief_shows_the_run_totals(served: Served) -> None:
    token = new_key(served, "Brief agency", "agency")
    with browser_page(served.proc.url) as browser, api_client(served.proc, token) as client:
        sign_in(browser, token, "runs")
        browser.page.wait_for_selector(f'#run-scenario option[value="{FLOOD}"]', state="attached")
        browser.page.select_option("#run-scenario", FLOOD)
        browser.page.click("#run-start")
        run_id = wait_for_button(browser, "Brief")
        assert "%" in browser.page.inner_text("#run-status")
        totals = client.get(f"/runs/{run_id}/summary").json()["totals"]
        brief = open_brief(browser, run_id)
        assert brief.url.startswith("blob:")
        text = brief.inner_text("body")
        for label, figure in (
            ("Households selected", "selected"),
            ("People in them", "persons_selected"),
        ):
            shown = re.search(rf"{label}\s+([\d,]+)", text)
            assert shown and shown.group(1) == number(totals[figure]), (label, text[:2000])
        assert re.search(rf"Amount\s+Rs {number(totals['benefit'])}", text)
        brief.screenshot(path=str(SCREENSHOTS / "page_brief.png"), full_page=True)
        browser.assert_offline()


def test_browser_page_upload_shows_the_validator(served: Served, tmp_path: Path) -> None:
    bad = tmp_path / "x.tif"
    bad.write_text("not a raster\n")
    with api_client(served.proc, served.tokens["agency"]) as client, bad.open("rb") as handle:
        refused = client.post(
            "/hazards",
            files={"file": ("x.tif", handle)},
            data={"name": "x", "kind": "flood_depth"},
        ).json()
    with browser_page(served.proc.url) as browser:
        sign_in(browser, served.tokens["agency"], "runs")
        browser.page.wait_for_selector("#upload", state="visible")
        browser.page.set_input_files("#upload-file", str(bad))
        browser.page.select_option("#upload-kind", "flood_depth")
        browser.page.fill("#upload-name", "x")
        browser.page.click("#upload-button")
        browser.page.wait_for_selector("#problem", state="visible")
        messages = browser.page.inner_text("#upload-messages")
        assert refused["detail"] and refused["detail"] in messages
        assert refused["detail"] in browser.page.inner_text("#problem-detail")
        # A good file: progress to the end, and the hazard can be chosen for a run.
        browser.page.click("#problem-close")
        browser.page.set_input_files("#upload-file", str(REAL_HAZARD))
        browser.page.select_option("#upload-kind", "flood_extent")
        browser.page.fill("#upload-name", "warning")
        browser.page.click("#upload-button")
        browser.page.wait_for_selector("#upload-messages:not(.bad):not(:empty)")
        assert browser.page.get_attribute("#upload-progress", "value") == "100"
        chosen = browser.page.input_value("#run-hazard")
        assert chosen and REAL_HAZARD.name in browser.page.inner_text("#run-hazard")
        assert browser.page.is_hidden("#problem")
        browser.assert_offline()


def test_browser_page_compare_two_runs(served: Served, runs: Runs) -> None:
    a, b = runs.flood, runs.bisp
    with api_client(served.proc, served.tokens["agency"]) as client:
        r = client.post("/runs/compare", json={"run_a": a, "run_b": b, "level": "district"})
        assert r.status_code == 200, r.text
        expected = {u["district"]: u for u in r.json()["units"]}
    with browser_page(served.proc.url) as browser:
        sign_in(browser, served.tokens["agency"], "compare")
        browser.page.wait_for_selector(f'#compare-b option[value="{b}"]', state="attached")
        browser.page.select_option("#compare-a", a)
        browser.page.select_option("#compare-b", b)
        browser.page.click("#compare-go")
        browser.page.wait_for_selector("#compare-table tbody tr")
        rows = [
            browser.page.locator("#compare-table tbody tr").nth(i).locator("td").all_inner_texts()
            for i in range(browser.page.locator("#compare-table tbody tr").count())
        ]
        assert len(rows) == len(expected)
        shown = 0
        for name, selected_a, selected_b, *_ in rows:
            unit = expected[name]
            if unit["selected_a"] is not None and unit["selected_b"] is not None:
                assert (selected_a, selected_b) == (
                    number(unit["selected_a"]),
                    number(unit["selected_b"]),
                )
                shown += 1
        assert shown, "no unit with both figures shown"
        assert canvas_spread(browser, "#compare-map", "page_compare_canvas") > MIN_SPREAD
        browser.screenshot("page_compare")
        browser.assert_offline()
