"""Issue 15: the planners' page at ``/`` driven in Chromium against a real ``rahat serve``.

One server per module (SQLite, the session's synthetic registry, k = 3, no key cache), with
the repository's flood and BISP scenarios; the agency's runs are started once through the
API. Each test opens its own browser page and checks what the page shows against what the
API answers for the same request. Screenshots go to ``build/screenshots/page_*.png``.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from browser import SCREENSHOTS, BrowserPage, browser_page, pixel_spread, require_browser
from conftest import (
    ServerProcess,
    api_client,
    cli_ok,
    ngo_agreement,
    start_server,
)

REPO = Path(__file__).resolve().parents[2]
#: The repository's scenarios the server lists (the flood one spends what BISP spends).
FLOOD = "flood_2022_footprint.yaml"
BISP = "bisp_2022_as_done.yaml"
#: The k-anonymity threshold of the server (small: the test registry is small).
K = 3
#: Grey-level spread below which a screenshot is taken as blank.
MIN_SPREAD = 10.0
#: The organisations of the server: name -> role.
ORGANISATIONS = {
    "PDMA Sindh": "agency",
    "Planning cell": "planner",
    "Relief NGO": "ngo",
    "Rahat admin": "admin",
}


@dataclass
class Served:
    """The module's server, its API keys (by role) and the ids it must never show."""

    proc: ServerProcess
    tokens: dict[str, str]
    #: The registry's household ids (as text), which no response may hold.
    registry_ids: frozenset[str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Served]:
    """``rahat serve`` with the four roles and the repository's flood and BISP scenarios."""
    require_browser()  # skip before starting a server for nothing
    root = tmp_path_factory.mktemp("page")
    (root / "scenarios").mkdir()
    for name in (FLOOD, BISP):
        shutil.copy(REPO / "scenarios" / name, root / "scenarios" / name)
    ids = pq.read_table(registry_file, columns=["household_id"]).column(0).to_pylist()
    agreement = ngo_agreement("Relief NGO", "province:Sindh", "district,benefit")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAHAT_K_ANONYMITY", str(K))
        env.setenv("RAHAT_KEY_CACHE_SECONDS", "0")
        for proc, tokens in start_server(root, "sqlite", registry_file, ORGANISATIONS, agreement):
            served = Served(proc, tokens, frozenset(str(i) for i in ids))
            yield served


# -- helpers -------------------------------------------------------------------------------------


def number(value: float | None) -> str:
    """A figure as the page writes it with international grouping (1,234,567)."""
    assert value is not None
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,}"


def sign_in(browser: BrowserPage, token: str, view: str = "") -> None:
    """Open the page (at ``#view``), sign in with ``token`` and wait for ``#whoami``."""
    browser.goto(f"/#{view}" if view else "/")
    browser.page.fill("#api-key", token)
    browser.page.click("#signin-button")
    browser.page.wait_for_selector("#whoami", state="visible")


def try_sign_in(browser: BrowserPage, token: str) -> str:
    """Sign in with a key the API refuses; the problem banner's text."""
    browser.goto("/")
    browser.page.fill("#api-key", token)
    browser.page.click("#signin-button")
    browser.page.wait_for_selector("#problem", state="visible")
    assert browser.page.is_visible("#signin") and browser.page.is_hidden("#views")
    return browser.page.inner_text("#problem")


def last_whatif(browser: BrowserPage) -> dict[str, Any]:
    """``window.rahat.lastWhatIf``: the request, response and seq of the answer drawn last."""
    answer: dict[str, Any] = browser.page.evaluate("() => window.rahat.lastWhatIf")
    return answer


def open_scenario(browser: BrowserPage, name: str = FLOOD) -> dict[str, Any]:
    """In the plan view, choose the scenario ``name``; its first what-if answer, once drawn."""
    browser.page.wait_for_selector("body[data-whatif-seq]", state="attached")
    if browser.page.input_value("#scenario") == name:
        return last_whatif(browser)
    seq = last_whatif(browser)["seq"]
    browser.page.select_option("#scenario", name)
    browser.page.wait_for_selector(f"body:not([data-whatif-seq='{seq}'])", state="attached")
    return last_whatif(browser)


def set_control(browser: BrowserPage, key: str, value: str) -> dict[str, Any]:
    """Set the control ``key`` as a user would (input and change events); the next answer."""
    seq = last_whatif(browser)["seq"]
    browser.page.locator(f'#controls [data-key="{key}"]').evaluate(
        """(input, value) => {
            input.value = value;
            input.dispatchEvent(new Event("input", { bubbles: true }));
            input.dispatchEvent(new Event("change", { bubbles: true }));
        }""",
        value,
    )
    browser.page.wait_for_selector(f"body:not([data-whatif-seq='{seq}'])", state="attached")
    return last_whatif(browser)


def shown_totals(browser: BrowserPage, attribute: str = "data-total") -> dict[str, str]:
    """The totals table's cells of the variant (``data-total``) or the base (``data-base``)."""
    cells = browser.page.locator(f"td[{attribute}]")
    return {
        cells.nth(i).get_attribute(attribute) or "": cells.nth(i).inner_text()
        for i in range(cells.count())
    }


def nav_views(browser: BrowserPage) -> list[str]:
    """The views whose buttons the navigation shows."""
    buttons = browser.page.locator("#views button")
    return [
        buttons.nth(i).get_attribute("data-view") or ""
        for i in range(buttons.count())
        if buttons.nth(i).is_visible()
    ]


def rahat_env(served: Served) -> dict[str, str]:
    """The ``RAHAT_*`` environment of the server (for ``rahat`` commands on its database)."""
    return {k: v for k, v in served.proc.env.items() if k.startswith("RAHAT_")}


def new_key(served: Served, organisation: str, role: str) -> str:
    """A key of a new ``organisation`` of ``role`` (its what-ifs are guarded on their own)."""
    cli_ok(rahat_env(served), "org", "add", organisation, "--role", role)
    return cli_ok(rahat_env(served), "key", "create", organisation).strip()


# -- sign-in and roles ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agency", "planner", "ngo", "admin"])
def test_browser_page_signin_shows_the_views_of_the_role(served: Served, role: str) -> None:
    with api_client(served.proc, served.tokens[role]) as client:
        me = client.get("/me").json()
    with browser_page(served.proc.url) as browser:
        # At the runs view: the agency's what-ifs would be refused as too close to its runs.
        sign_in(browser, served.tokens[role], "runs")
        assert browser.page.evaluate("() => window.rahat.me.role") == role
        assert me["organisation"] in browser.page.inner_text("#whoami")
        expected = [v for v in ("plan", "compare", "runs") if v in me["views"]]
        assert nav_views(browser) == expected
        browser.page.wait_for_selector("#runs-table tr[data-run-id], #runs-table:not(:empty)")
        assert browser.page.is_visible("#view-runs")
        assert browser.page.is_visible("#upload") == ("upload" in me["views"])
        assert browser.page.is_hidden("#problem"), browser.page.inner_text("#problem")
        browser.assert_offline()


def test_browser_page_wrong_and_revoked_keys_show_the_problem(served: Served) -> None:
    with api_client(served.proc, "rahat_wrong") as client:
        refused = client.get("/me").json()
    token = new_key(served, "Revoked cell", "planner")
    with browser_page(served.proc.url) as browser:
        text = try_sign_in(browser, "rahat_wrong")
        assert refused["title"] in text and refused["detail"] in text
        sign_in(browser, token, "runs")  # the key works until it is revoked
        browser.page.click("#sign-out")
        cli_ok(rahat_env(served), "key", "revoke", token)
        text = try_sign_in(browser, token)
        assert refused["title"] in text and refused["detail"] in text


# -- the map and what-if view --------------------------------------------------------------------


def test_browser_page_slider_shows_the_api_figures(served: Served) -> None:
    token = new_key(served, "Slider cell", "planner")
    with browser_page(served.proc.url) as browser, api_client(served.proc, token) as client:
        sign_in(browser, token)
        first = open_scenario(browser)
        assert first["request"]["scenario_name"] == FLOOD
        before = shown_totals(browser)
        assert before["selected"] == number(first["response"]["variant"]["totals"]["selected"])
        for cutoff in ("10", "60"):
            drawn = set_control(browser, "pmt_cutoff", cutoff)
            assert drawn["request"]["overrides"] == {"pmt_cutoff": float(cutoff)}
            answer = client.post("/whatif", json=drawn["request"])
            assert answer.status_code == 200, answer.text
            expected = answer.json()
            shown = shown_totals(browser)
            assert shown == {name: number(expected["variant"]["totals"][name]) for name in shown}, (
                "the page shows other figures than the API's for the same what-if"
            )
            assert shown_totals(browser, "data-base")["selected"] == number(
                expected["base"]["totals"]["selected"]
            )
            assert browser.page.locator("#units-table tbody tr").count() == len(
                expected["variant"]["units"]
            )
        assert shown_totals(browser)["selected"] != before["selected"]
        # A refused what-if (an amount below zero) shows the API's problem in words.
        refused = client.post(
            "/whatif", json={**drawn["request"], "overrides": {"budget": -5}}
        ).json()
        browser.page.fill('#controls [data-key="budget"]', "-5")
        browser.page.wait_for_selector("#problem", state="visible")
        assert refused["title"] in browser.page.inner_text("#problem-title")
        assert browser.page.inner_text("#problem-detail").strip()
        browser.assert_offline()


def canvas_spread(browser: BrowserPage, selector: str, name: str) -> float:
    """Grey-level spread of the WebGL drawing of the map ``selector`` (controls left out).

    Polls until the spread passes :data:`MIN_SPREAD` (MapLibre draws after the data is set),
    for at most ten seconds; the drawing is written to ``build/screenshots/<name>.png``.
    """
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    spread = 0.0
    for _ in range(50):
        url = browser.page.locator(f"{selector} canvas").evaluate("(c) => c.toDataURL('image/png')")
        path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
        spread = pixel_spread(path)
        if spread > MIN_SPREAD:
            break
        browser.page.wait_for_timeout(200)
    return spread


def pk_number(value: float) -> str:
    """A whole number grouped the Pakistani way (12,34,567)."""
    digits = number(value).replace(",", "")
    head, tail = digits[:-3], digits[-3:]
    pairs = re.findall(r"\d{1,2}(?=(?:\d\d)*$)", head)
    return ",".join([*pairs, tail])


def test_browser_page_map_is_drawn(served: Served) -> None:
    token = new_key(served, "Map cell", "planner")
    with browser_page(served.proc.url) as browser:
        sign_in(browser, token)
        open_scenario(browser)
        assert canvas_spread(browser, "#map", "page_map_canvas") > MIN_SPREAD, "blank map"
        assert "3" in browser.page.inner_text("#legend")  # the threshold k of the grey units
        browser.screenshot("page_plan")
        browser.assert_offline()


def test_browser_page_urdu_and_pakistani_grouping(served: Served) -> None:
    token = new_key(served, "Urdu cell", "planner")
    with browser_page(served.proc.url) as browser:
        browser.goto("/")
        browser.page.select_option("#lang", "ur")
        assert browser.page.evaluate("() => document.documentElement.dir") == "rtl"
        assert browser.page.get_attribute("html", "lang") == "ur"
        assert browser.page.inner_text("#signin h2") == "سائن اِن"
        sign_in(browser, token)
        answer = open_scenario(browser)["response"]
        assert browser.page.inner_text('#views button[data-view="plan"]') == "نقشہ اور متبادل جائزہ"
        browser.page.select_option("#grouping", "pk")
        amount = answer["variant"]["totals"]["benefit"]
        assert amount >= 100_000
        shown = browser.page.inner_text('td[data-total="benefit"]')
        assert re.fullmatch(r"\d{1,2}(,\d\d)*,\d{3}", shown), shown
        assert shown == pk_number(amount)
        browser.screenshot("page_urdu")
        browser.assert_offline()
