"""``rahat bench page``: the what-if round trip as a planner feels it, in a real browser.

What counts is the time from moving the PMT slider on the page to the new totals, map and table
on screen. This benchmark starts a real ``rahat serve`` (a child process) on a national
registry of ``n`` households (:mod:`rahat.benchmarks.e2e_data`) with a scenario on the national
synthetic flood-depth raster (depth >= 0.3 m, PMT <= 32, ranked by severity, poverty and
children, a budget for about 5% of the households, quotas per district), signs in as a planner
in Debian's Chromium (driven by Playwright, no browser download) and moves the PMT slider
``moves`` times, one step (0.5) at a time. Each move is timed from the key press to the page
marking the answer drawn (``body[data-whatif-seq]``): the page's debounce, the request, the
server's evaluation, the JSON, the table and the map. The first what-if (registry load and
overlay) is reported apart.

Reported: the median, 90th percentile and maximum round trip as the driver sees it
(``round_trip_s``: it notices the page's mark at its next check of the page, so it adds up to a
frame or two of a software-rendered map), the page's own measure of each (``page_s``: from the
slider's input event to the map drawn again, ``window.rahat.lastWhatIf.ms``, the figure the
page shows as "Updated in ... ms"), the first what-if, and the size of the static files the
page ships (page, MapLibre, Swagger UI).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

#: The ``rahat`` console script of this environment.
RAHAT = Path(sys.executable).with_name("rahat")
#: The page's static folder (the files ``rahat serve`` ships).
STATIC = Path(__file__).resolve().parents[1] / "api" / "service" / "static"


def static_sizes() -> dict[str, int]:
    """Bytes of the static files shipped, per folder and in all."""
    sizes = {
        folder.name: sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        for folder in sorted(STATIC.iterdir())
        if folder.is_dir()
    }
    return {**sizes, "total": sum(sizes.values())}


def _scenario(raster: Path, households: int) -> dict[str, Any]:
    return {
        "name": "bench_page",
        "description": "rahat bench page: national flood depth >= 0.3 m, PMT <= 32",
        "seed": 1,
        "hazards": [{"name": "depth", "path": str(raster), "kind": "flood_depth"}],
        "eligibility": {"pmt_cutoff": 32.0, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
        "priority": {"weights": {"severity": 0.4, "poverty": 0.4, "children_under5": 0.2}},
        "benefit": {"kind": "fixed", "amount": 25000},
        "budget": {"total": 25000 * max(1, households // 20)},  # about 5% of households
        "quotas": {"level": "district", "mode": "proportional"},
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rahat(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(RAHAT), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("rahat serve exited before it answered")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("rahat serve did not answer /healthz in time")


#: Chromium's flags: headless in a container, WebGL drawn by SwiftShader (no GPU needed).
CHROMIUM_ARGS = ("--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader")


def chromium_path() -> str | None:
    """The Chromium to drive: ``$RAHAT_CHROMIUM``, else ``chromium`` or ``chromium-browser``."""
    configured = os.environ.get("RAHAT_CHROMIUM")
    if configured:
        return shutil.which(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium() -> str:
    """The Chromium the benchmark drives (:func:`chromium_path`), or a clear error."""
    path = chromium_path()
    if not path:
        raise RuntimeError("no Chromium: install Debian's chromium or set RAHAT_CHROMIUM")
    return path


def _drive(base_url: str, token: str, moves: int) -> dict[str, Any]:
    """Sign in, wait for the first what-if, move the PMT slider ``moves`` times; time it all."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=list(CHROMIUM_ARGS))
        # The page's CSP forbids eval, which Playwright's wait_for_function needs; bypassing it
        # changes nothing else the page does. A selector wait polls every 500 ms after a few
        # tries, which would add up to half a second to each round trip.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.set_default_timeout(300_000)
        page.goto(base_url)
        page.fill("#api-key", token)
        started = time.perf_counter()
        page.click("#signin-button")
        _answered(page, 1)
        first = time.perf_counter() - started
        slider = page.locator("[data-key=pmt_cutoff]")
        round_trips, in_page = [], []
        for move in range(moves):
            slider.focus()
            started = time.perf_counter()
            page.keyboard.press("ArrowRight")
            _answered(page, move + 2)
            round_trips.append(time.perf_counter() - started)
            in_page.append(page.evaluate("() => window.rahat.lastWhatIf.ms") / 1000)
        last = page.evaluate("() => window.rahat.lastWhatIf.response.variant.totals")
        browser.close()
    return {"first_whatif_s": first, "round_trip_s": round_trips, "page_s": in_page, "last": last}


def _answered(page: Any, seq: int) -> None:
    """Wait until the page has drawn what-if ``seq``; raise with its problem if it shows one.

    The page is checked at every animation frame, so the wait ends within a frame of the mark.
    """
    page.wait_for_function(
        """seq => document.body.dataset.whatifSeq === String(seq)
               || !document.getElementById("problem").hidden""",
        arg=seq,
        polling="raf",
    )
    problem = page.locator("#problem")
    if problem.is_visible():
        raise RuntimeError(f"the page showed a problem: {problem.inner_text()}")


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(p90, 3),
        "max": round(ordered[-1], 3),
    }


def run_page_bench(households: int, moves: int = 20) -> dict[str, Any]:
    """Time ``moves`` PMT slider moves on the page at ``households`` households."""
    from rahat.benchmarks.e2e import bench_inputs
    from rahat.geo.paths import cache_dir

    paths = bench_inputs(households, cache_dir() / "bench" / "e2e")
    with tempfile.TemporaryDirectory(prefix="rahat-bench-page-") as work:
        root = Path(work)
        scenarios = root / "scenarios"
        scenarios.mkdir()
        scenario = _scenario(paths["raster"], households)
        (scenarios / "flood.yaml").write_text(yaml.safe_dump(scenario))
        port = _free_port()
        env = {
            **os.environ,
            "RAHAT_STATE_DIR": str(root / "state"),
            "RAHAT_REGISTRY_PATH": str(paths["registry"]),
            "RAHAT_SCENARIOS_DIR": str(scenarios),
        }
        _rahat(env, "org", "add", "Bench planners", "--role", "planner")
        token = _rahat(env, "key", "create", "Bench planners").strip().splitlines()[-1]
        log = (root / "server.log").open("wb")
        server = subprocess.Popen(
            [str(RAHAT), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(port, server)
            timed = _drive(f"http://127.0.0.1:{port}/", token, moves)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return {
        "households": households,
        "moves": moves,
        "first_whatif_s": round(timed["first_whatif_s"], 3),
        "round_trip_s": _stats(timed["round_trip_s"]),
        "page_s": _stats(timed["page_s"]),
        "within_1s": sum(t <= 1.0 for t in timed["round_trip_s"]),
        "last_totals": timed["last"],
        "static_bytes": static_sizes(),
    }
