"""Restart: kill ``rahat serve`` during a run, restart it, find nothing lost or half-written."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from conftest import (
    REAL_HAZARD,
    ServerProcess,
    backends,
    cli_ok,
    flood_scenario,
    make_settings,
    server_env,
)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("backend", backends())
def test_kill_during_run_then_restart_and_rerun(
    tmp_path: Path, registry_file: Path, backend: str
) -> None:
    settings = make_settings(tmp_path, backend, registry_path=registry_file, workers=1)
    env = server_env(settings)
    cli_ok(env, "org", "add", "PDMA", "--role", "agency")
    token = cli_ok(env, "key", "create", "PDMA").strip()
    headers = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "server.log"

    proc = ServerProcess(env, log).start()
    try:
        with httpx.Client(base_url=proc.url, headers=headers, timeout=60) as api:
            with open(REAL_HAZARD, "rb") as fh:
                r = api.post(
                    "/hazards", files={"file": (REAL_HAZARD.name, fh)}, data={"name": "warning"}
                )
            assert r.status_code == 201, r.text
            hazard = r.json()
            body = {"scenario": flood_scenario(), "hazards": {"warning": hazard["id"]}}
            first = api.post("/runs", json=body).json()["id"]
            wait_until(
                lambda: api.get(f"/runs/{first}").json()["status"] == "succeeded",
                120,
                "the first run",
            )
            pending = [api.post("/runs", json=body).json()["id"] for _ in range(3)]
            wait_until(
                lambda: any(api.get(f"/runs/{i}").json()["status"] == "running" for i in pending),
                60,
                "a run to start",
            )
    finally:
        proc.kill()

    runs_dir = settings.runs_dir
    proc = ServerProcess(env, log).start()
    try:
        with httpx.Client(base_url=proc.url, headers=headers, timeout=60) as api:
            states = {i: api.get(f"/runs/{i}").json() for i in pending}
            interrupted = [i for i, s in states.items() if s["status"] == "interrupted"]
            assert len(interrupted) >= 2, states
            assert all(s["status"] in ("interrupted", "succeeded") for s in states.values())
            assert all("rerun" in states[i]["error"] for i in interrupted)
            # no partial artifact: only finished runs have a folder, no temporaries remain
            on_disk = sorted(p.name for p in runs_dir.iterdir())
            finished = sorted([first, *(i for i in pending if i not in interrupted)])
            assert on_disk == finished
            assert not list(settings.state_dir.rglob(".tmp-*"))
            # earlier uploads and results intact
            stored = settings.hazards_dir / hazard["id"] / REAL_HAZARD.name
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == hazard["sha256"]
            assert api.get(f"/hazards/{hazard['id']}").status_code == 200
            assert api.get(f"/runs/{first}/summary").status_code == 200
            # one call re-runs an interrupted run to completion
            again = interrupted[0]
            r = api.post(f"/runs/{again}/rerun")
            assert r.status_code == 202 and r.json()["status"] == "queued"
            done = wait_until(
                lambda: (
                    (s := api.get(f"/runs/{again}").json())["status"] not in ("queued", "running")
                    and s
                ),
                120,
                "the re-run",
            )
            assert done["status"] == "succeeded" and done["attempts"] >= 1, done
            assert api.get(f"/runs/{again}/summary").status_code == 200
            assert api.post(f"/runs/{again}/rerun").status_code == 409
    finally:
        proc.stop()
