"""``kill -9`` of a real server during uploads, runs and exports, 20 times, at seeded times.

After each kill the server is restarted and checked: every acknowledged upload is intact (by
sha256, through the API and on disk), runs left in flight are ``interrupted`` and re-runnable,
``PRAGMA integrity_check`` is ok, and no debris (``.tmp-*``, hazard folders without a record,
run folders of unfinished runs) is left after the start-up clean-up or visible through the API.
The 20 kills are split into 4 independent chunks, so that ``pytest -n`` runs them side by side.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from conftest import (
    REAL_HAZARD,
    ServerProcess,
    caseload_table,
    cli_ok,
    flood_scenario,
    make_settings,
    png_bytes,
    server_env,
)

from rahat.api.service.db import create_schema, make_engine, make_sessionmaker
from rahat.api.service.models import Organisation, Run
from rahat.api.service.settings import Settings

#: Seed of the kill times; chunk ``i`` uses ``SEED + i``.
SEED = 20261201
KILLS = 20
CHUNKS = 4
HAZARD_BYTES = REAL_HAZARD.read_bytes()
HAZARD_SHA256 = hashlib.sha256(HAZARD_BYTES).hexdigest()
BOUNDARY = "rahat-fault-boundary"


def _slow_multipart() -> Iterator[bytes]:
    """The hazard as a multipart body, streamed slowly so that kills land mid-upload."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{REAL_HAZARD.name}"\r\nContent-Type: application/geo+json\r\n\r\n'
    ).encode()
    step = 128 << 10
    for start in range(0, len(HAZARD_BYTES), step):
        yield HAZARD_BYTES[start : start + step]
        time.sleep(0.004)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _finished_run(settings: Settings) -> str:
    """Record a succeeded run (with its caseload) before the server first starts."""
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with make_sessionmaker(engine)() as session, session.begin():
        org = session.query(Organisation).filter_by(name="NDMA").one()
        run = Run(scenario={"name": "fixture"}, hazards={}, status="succeeded", created_by=org.id)
        run.progress, run.attempts = 1.0, 1
        session.add(run)
        session.flush()
        folder = settings.runs_dir / run.id
        folder.mkdir(parents=True)
        pq.write_table(caseload_table(), folder / "caseload.parquet")
        (folder / "map.png").write_bytes(png_bytes())
        run.artifact_dir = str(folder)
        run_id = run.id
    engine.dispose()
    return run_id


class Load:
    """Uploads, runs and exports sent to a server until it dies; what it acknowledged."""

    def __init__(self, url: str, token: str, body: dict[str, Any], export_run: str) -> None:
        self.url, self.token, self.body, self.export_run = url, token, body, export_run
        self.uploads: dict[str, str] = {}  # hazard id -> sha256, of every 201
        self.runs: set[str] = set()  # run ids of every 202
        self.rerun: str | None = None
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def _loop(self, step: Any) -> None:
        with self.client() as api:
            while not self.stop.is_set():
                try:
                    step(api)
                except httpx.TransportError:
                    return
                except BaseException as exc:  # reported by the test
                    self.errors.append(exc)
                    return

    def upload(self, api: httpx.Client) -> None:
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        r = api.post("/hazards", content=_slow_multipart(), headers={"content-type": content_type})
        if r.status_code == 201:
            self.uploads[r.json()["id"]] = r.json()["sha256"]

    def run(self, api: httpx.Client) -> None:
        """One re-run of an interrupted run and one new run per server life."""
        if self.rerun is not None:
            r = api.post(f"/runs/{self.rerun}/rerun")
            assert r.status_code == 202, r.text  # an interrupted run is re-runnable
            self.runs.add(self.rerun)
            self.rerun = None
        r = api.post("/runs", json=self.body)
        assert r.status_code == 202, r.text
        self.runs.add(r.json()["id"])
        self.stop.wait()

    def export(self, api: httpx.Client) -> None:
        r = api.get(f"/runs/{self.export_run}/households", params={"format": "csv"})
        assert r.status_code == 200, r.text
        assert r.text.startswith("household_id,") and r.text.count("\n") > 100

    def start(self) -> list[threading.Thread]:
        self.stop.clear()
        threads = [
            threading.Thread(target=self._loop, args=(step,), daemon=True)
            for step in (self.upload, self.run, self.export)
        ]
        for thread in threads:
            thread.start()
        return threads


def _check_after_restart(api: httpx.Client, settings: Settings, load: Load) -> None:
    # acknowledged uploads: intact through the API and on disk
    for hazard_id, sha256 in load.uploads.items():
        assert sha256 == HAZARD_SHA256
        r = api.get(f"/hazards/{hazard_id}")
        assert r.status_code == 200 and r.json()["sha256"] == sha256, r.text
        stored = settings.hazards_dir / hazard_id / r.json()["filename"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha256
    # no debris on disk after the start-up clean-up, none visible through the API
    assert not list(settings.state_dir.rglob(".tmp-*"))
    listed = {h["id"] for h in api.get("/hazards", params={"limit": 1000}).json()}
    assert listed >= set(load.uploads)
    on_disk = {p.name for p in settings.hazards_dir.iterdir()}
    assert on_disk == listed, "hazard folders without a record (or records without a folder)"
    assert all(any((settings.hazards_dir / h).iterdir()) for h in on_disk)
    # runs: none left in flight; interrupted ones say how to re-run; folders only when finished
    runs = {r["id"]: r for r in api.get("/runs", params={"limit": 1000}).json()}
    assert not [r for r in runs.values() if r["status"] in ("queued", "running")]
    assert load.runs <= set(runs)
    interrupted = [i for i, r in runs.items() if r["status"] == "interrupted"]
    assert all("rerun" in runs[i]["error"] for i in interrupted)
    succeeded = {i for i, r in runs.items() if r["status"] == "succeeded"}
    folders = {p.name for p in settings.runs_dir.iterdir()}
    assert folders <= succeeded, folders - succeeded
    assert all((settings.runs_dir / i / "caseload.parquet").is_file() for i in folders)
    load.rerun = interrupted[0] if interrupted else None
    # the database is whole
    with sqlite3.connect(settings.state_dir / "rahat.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_kill_9_during_uploads_runs_and_exports(
    tmp_path: Path, registry_file: Path, chunk: int
) -> None:
    rng = random.Random(SEED + chunk)
    settings = make_settings(tmp_path, "sqlite", registry_path=registry_file, workers=1)
    env = server_env(settings)
    cli_ok(env, "org", "add", "NDMA", "--role", "admin")
    token = cli_ok(env, "key", "create", "NDMA").strip()
    export_run = _finished_run(settings)
    log = tmp_path / "server.log"
    proc = ServerProcess(env, log).start()
    try:
        with httpx.Client(
            base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            r = api.post("/hazards", files={"file": (REAL_HAZARD.name, HAZARD_BYTES)})
            assert r.status_code == 201, r.text
        body = {"scenario": flood_scenario(), "hazards": {"warning": r.json()["id"]}}
        load = Load(proc.url, token, body, export_run)
        load.uploads[r.json()["id"]] = r.json()["sha256"]
        for _ in range(KILLS // CHUNKS):
            threads = load.start()
            time.sleep(rng.uniform(0.1, 1.5))
            proc.kill()
            load.stop.set()
            for thread in threads:
                thread.join(timeout=30)
            assert not load.errors, load.errors
            proc = ServerProcess(env, log).start()
            load.url = proc.url
            with httpx.Client(
                base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as api:
                _check_after_restart(api, settings, load)
    finally:
        proc.kill()
