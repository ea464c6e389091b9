"""Drive the system Chromium with Playwright against a local ``rahat serve`` (issue 15).

The browser is Debian's ``chromium`` (``.ci/run`` installs it), driven by the Python
``playwright`` package through ``executable_path``: nothing is downloaded. Every request to a
host other than 127.0.0.1 / localhost is aborted and recorded, so a test can assert that a
page works offline and leaks nothing; console errors, page errors and every response (with
its body) are recorded for the tests to inspect. Screenshots go to ``build/screenshots/``,
kept by CI as artifacts.

Usage in a test::

    from browser import browser_page

    with browser_page(proc.url) as browser:
        browser.goto("/docs")
        browser.page.wait_for_selector(".opblock")
        browser.screenshot("docs")
        browser.assert_offline()
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import pytest

from rahat.benchmarks.page import CHROMIUM_ARGS as BENCH_CHROMIUM_ARGS
from rahat.benchmarks.page import chromium_path

if TYPE_CHECKING:
    from playwright.sync_api import (
        ConsoleMessage,
        Error,
        Page,
        Request,
        Response,
        Route,
        ViewportSize,
    )

#: Where screenshots go (the CI artifacts): ``build/screenshots`` of the repository.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
#: Hosts a page may reach; a request to any other host is aborted and recorded.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: Bound of every wait (navigation, selector, launch), in milliseconds.
TIMEOUT_MS = 30_000
#: Chromium flags: no sandbox (containers, root), no GPU, and WebGL (MapLibre needs it) on
#: the SwiftShader software renderer through ANGLE, asked for explicitly rather than left to
#: Chromium's deprecated automatic fallback. The resolver rule makes every name but the local
#: ones unresolvable, so nothing reaches the internet even past the route.
CHROMIUM_ARGS = (
    *BENCH_CHROMIUM_ARGS,
    "--disable-gpu",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
#: Script giving the WebGL renderer's name, or null when WebGL is unavailable.
WEBGL_PROBE = """() => {
    const gl = document.createElement('canvas').getContext('webgl');
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : 'webgl';
}"""
#: Events :meth:`BrowserPage.goto` can wait for.
WaitUntil = Literal["commit", "domcontentloaded", "load", "networkidle"]
#: Page size of every browser page (stable screenshots).
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def require_browser() -> str:
    """Chromium's path; skip the test without Chromium or Playwright (fail under ``$CI``)."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the Python package playwright is not installed (pip install -e '.[test]')"
    executable = chromium_path()
    if problem is None and executable is None:
        problem = "no Chromium: install Debian's chromium (apt) or set RAHAT_CHROMIUM to one"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    assert executable is not None
    return executable


def is_local(url: str) -> bool:
    """Whether ``url`` stays on this machine (a local host, or no network: data:, blob:...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


@dataclass
class RecordedResponse:
    """One response the page received: for privacy checks of what reached the browser."""

    url: str
    status: int
    content_type: str
    #: The body, or None where Chromium kept none (redirects, aborted loads).
    body: bytes | None


@dataclass
class BrowserPage:
    """A Chromium page on ``base_url`` and what it did (see :func:`browser_page`)."""

    page: Page
    base_url: str
    artifacts: Path
    #: URLs of the requests that tried to leave the machine (all aborted).
    blocked: list[str] = field(default_factory=list)
    #: Text of each ``console.error`` message (failed loads included).
    console_errors: list[str] = field(default_factory=list)
    #: Uncaught exceptions of the page's scripts.
    page_errors: list[str] = field(default_factory=list)
    #: Every response received, in the order the loads finished (see :meth:`settle`).
    responses: list[RecordedResponse] = field(default_factory=list)
    #: Bound of :meth:`settle`, in milliseconds.
    timeout_ms: int = TIMEOUT_MS
    #: Requests started and not yet finished, failed, or recorded.
    pending: int = 0

    def goto(self, path: str, wait_until: WaitUntil = "load") -> Response | None:
        """Open ``path`` (relative to :attr:`base_url`) and wait for ``wait_until``."""
        return self.page.goto(self.base_url.rstrip("/") + path, wait_until=wait_until)

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        """Write a PNG of the page as ``<artifacts>/<name>.png``; return its path."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / (name if name.endswith(".png") else f"{name}.png")
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def webgl_renderer(self) -> str | None:
        """The WebGL renderer of the page (e.g. SwiftShader), or None without WebGL."""
        renderer: str | None = self.page.evaluate(WEBGL_PROBE)
        return renderer

    def settle(self) -> None:
        """Wait until every request started so far has ended and been recorded.

        Playwright delivers the events of the loads after ``goto`` and the waits return: read
        :attr:`responses` after this (:meth:`failed` and :meth:`assert_offline` call it).
        """
        self.page.wait_for_timeout(0)  # deliver the events already received
        deadline = time.monotonic() + self.timeout_ms / 1000
        while self.pending > 0:
            assert time.monotonic() < deadline, f"{self.pending} requests still loading"
            self.page.wait_for_timeout(20)

    def failed(self) -> list[str]:
        """``"<status> <url>"`` of every response with an error status (400 and above)."""
        self.settle()
        return [f"{r.status} {r.url}" for r in self.responses if r.status >= 400]

    def assert_offline(self) -> None:
        """Assert that no request tried to leave the machine and no script failed."""
        self.settle()
        assert not self.blocked, f"requests to the internet: {self.blocked}"
        assert not self.page_errors, f"page errors: {self.page_errors}"

    @staticmethod
    def _route(route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def _request(self, request: Request) -> None:
        # Every request is seen here, aborted by the route or not.
        self.pending += 1
        if not is_local(request.url):
            self.blocked.append(request.url)

    def _request_failed(self, request: Request) -> None:
        self._record(request, finished=False)

    def _request_finished(self, request: Request) -> None:
        self._record(request, finished=True)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(str(error))

    def _record(self, request: Request, finished: bool) -> None:
        """Record the response of an ended request (a failed one: its status, no body)."""
        try:
            response = request.response()  # None for an aborted request
            if response is None:
                return
            body: bytes | None = None
            if finished:
                with contextlib.suppress(Exception):  # redirects have no body
                    body = response.body()
            kind = response.headers.get("content-type", "")
            self.responses.append(RecordedResponse(request.url, response.status, kind, body))
        finally:
            self.pending -= 1


@contextlib.contextmanager
def browser_page(
    base_url: str, artifacts: Path = SCREENSHOTS, timeout_ms: int = TIMEOUT_MS
) -> Iterator[BrowserPage]:
    """A headless Chromium page for ``base_url``; closes the browser after.

    Skips the test without Chromium or Playwright (fails under ``$CI``, see
    :func:`require_browser`). Requests off the machine are aborted and recorded in
    :attr:`BrowserPage.blocked`; every wait is bounded by ``timeout_ms``.

    Parameters
    ----------
    base_url
        Root of the server, e.g. ``ServerProcess.url``.
    artifacts
        Folder of :meth:`BrowserPage.screenshot` (default :data:`SCREENSHOTS`).
    timeout_ms
        Bound of the launch and of every navigation and wait, in milliseconds.
    """
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), timeout=timeout_ms
        )
        try:
            context = browser.new_context(
                viewport=VIEWPORT, service_workers="block", locale="en-GB", timezone_id="UTC"
            )
            context.set_default_timeout(timeout_ms)
            context.set_default_navigation_timeout(timeout_ms)
            page = context.new_page()
            session = BrowserPage(page, base_url, artifacts, timeout_ms=timeout_ms)
            context.route("**/*", session._route)
            context.on("request", session._request)
            context.on("requestfinished", session._request_finished)
            context.on("requestfailed", session._request_failed)
            page.on("console", session._console)
            page.on("pageerror", session._page_error)
            yield session
        finally:
            browser.close()


def pixel_spread(png: Path) -> float:
    """Standard deviation of the grey levels of ``png`` (0 for a blank page)."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png.read_bytes())) as image:
        grey = np.asarray(image.convert("L"), dtype=np.float64)
    return float(grey.std())
