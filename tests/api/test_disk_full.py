"""A full disk: 507 problem documents, the service stays up, no debris, recovery once freed.

The in-process test injects ``ENOSPC`` into the write paths (files and database) and always
runs; the second mounts a real 8 MiB tmpfs (root only) and fills it.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
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
    Service,
    backends,
    caseload_table,
    cli_ok,
    flood_scenario,
    make_settings,
    server_env,
    start_service,
)
from sqlalchemy import event

from rahat.api.service import storage

FULL_TYPE = "urn:rahat:problem:storage-full"
#: An export the test NGO's agreement allows.
EXPORT = {"format": "csv", "limit": 50}


class Faults:
    """Switchable full-disk faults: file writes, database writes."""

    def __init__(self) -> None:
        self.files = False
        self.database = False

    def enospc(self) -> OSError:
        return OSError(errno.ENOSPC, "No space left on device")


def _database_error(dialect: str) -> Exception:
    if dialect == "sqlite":
        return sqlite3.OperationalError("database or disk is full")
    import psycopg

    return psycopg.errors.DiskFull("could not extend file: No space left on device")


@pytest.fixture(params=backends())
def full_service(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    registry_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Service, Faults]]:
    faults = Faults()
    real_write = storage.AtomicUpload.write

    def write(self: storage.AtomicUpload, chunk: bytes) -> None:
        if faults.files:
            raise faults.enospc()
        real_write(self, chunk)

    monkeypatch.setattr(storage.AtomicUpload, "write", write)
    settings = make_settings(tmp_path, request.param, registry_path=registry_file)
    services = start_service(settings)
    service = next(services)
    engine = service.app.state.engine
    dialect = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def full(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if faults.database and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise _database_error(dialect)

    def runner(scenario, *, registry_path, hazard_paths, out_dir, progress):
        if faults.files:
            raise faults.enospc()
        pq.write_table(caseload_table(), out_dir / "caseload.parquet")
        return {"selected": 1}

    service.app.state.jobs.runner = runner
    yield service, faults
    services.close()


def _is_full(r: httpx.Response) -> None:
    assert r.status_code == 507, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == FULL_TYPE and "storage is full" in body["detail"], body
    assert "Traceback" not in r.text and "/" not in body["detail"].replace("POST /", "")


def _no_debris(service: Service) -> None:
    settings = service.app.state.settings
    assert not list(settings.state_dir.rglob(".tmp-*"))
    assert all(any(p.iterdir()) for p in settings.hazards_dir.iterdir())  # no empty folder


def _finished(service: Service, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (body := service.get("agency", f"/runs/{run_id}").json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    return body


def test_full_disk_answers_507_and_recovers(full_service: tuple[Service, Faults]) -> None:
    service, faults = full_service
    upload = REAL_HAZARD.read_bytes()

    def post_hazard() -> httpx.Response:
        return service.post("agency", "/hazards", files={"file": (REAL_HAZARD.name, upload)})

    r = post_hazard()
    assert r.status_code == 201, r.text
    body = {"scenario": flood_scenario(), "hazards": {"warning": r.json()["id"]}}
    hazards_before = len(service.get("agency", "/hazards").json())
    runs_before = len(service.get("agency", "/runs").json())

    # uploads: the file write fails
    faults.files = True
    _is_full(post_hazard())
    _no_debris(service)
    assert len(service.get("agency", "/hazards").json()) == hazards_before
    assert service.client.get("/healthz").status_code == 200

    # a run accepted before the disk filled fails with a clear message, and keeps nothing
    faults.files = False
    r = service.post("agency", "/runs", json=body)
    assert r.status_code == 202, r.text
    faults.files = True
    service.app.state.jobs.wait(r.json()["id"], timeout=30)
    run = _finished(service, r.json()["id"])
    assert run["status"] == "failed" and "storage is full" in run["error"], run
    assert not (service.app.state.settings.runs_dir / run["id"]).exists()
    _no_debris(service)

    # starting and re-running: the database write fails
    faults.database = True
    _is_full(service.post("agency", "/runs", json=body))
    _is_full(service.post("agency", f"/runs/{run['id']}/rerun"))
    # an export whose audit event cannot be written releases nothing (a problem document)
    r = service.get("ngo", f"/runs/{service.run_id}/households", params=EXPORT)
    assert r.status_code == 507 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:rahat:problem:storage-full" and "household_id" not in r.text
    assert service.client.get("/healthz").status_code == 200

    # space returns: everything works again, the failed run re-runs to completion
    faults.files = faults.database = False
    assert len(service.get("agency", "/runs").json()) == runs_before + 1
    r = service.post("agency", f"/runs/{run['id']}/rerun")
    assert r.status_code == 202, r.text
    assert _finished(service, run["id"])["status"] == "succeeded"
    assert post_hazard().status_code == 201
    r = service.get("ngo", f"/runs/{service.run_id}/households", params=EXPORT)
    assert r.status_code == 200, r.text
    _no_debris(service)


def test_storage_full_errors_are_recognised() -> None:
    assert storage.is_storage_full(OSError(errno.ENOSPC, "full"))
    assert storage.is_storage_full(OSError(errno.EDQUOT, "quota"))
    assert not storage.is_storage_full(OSError(errno.EIO, "io"))
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.Error as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert storage.is_storage_full(wrapped)


# -- a real full disk -------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs (skipped where mounting is not permitted)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Write a file until the disk refuses even one more byte; return it."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 64 << 10, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_real_full_disk_answers_507_and_recovers(
    tmpfs: Path, tmp_path: Path, registry_file: Path
) -> None:
    settings = make_settings(tmp_path, "sqlite", registry_path=registry_file, state_dir=tmpfs)
    env = server_env(settings)
    cli_ok(env, "org", "add", "NDMA", "--role", "admin")
    token = cli_ok(env, "key", "create", "NDMA").strip()
    proc = ServerProcess(env, tmp_path / "server.log").start()
    try:
        with httpx.Client(
            base_url=proc.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as api:

            def post_hazard() -> httpx.Response:
                with open(REAL_HAZARD, "rb") as fh:
                    return api.post("/hazards", files={"file": (REAL_HAZARD.name, fh)})

            r = post_hazard()
            assert r.status_code == 201, r.text
            body = {"scenario": flood_scenario(), "hazards": {"warning": r.json()["id"]}}
            run_id = api.post("/runs", json=body).json()["id"]
            while api.get(f"/runs/{run_id}").json()["status"] in ("queued", "running"):
                time.sleep(0.1)
            filler = _fill(tmpfs)

            for r in (post_hazard(), api.post("/runs", json=body)):
                assert r.status_code == 507, r.text
                assert r.json()["type"] == FULL_TYPE
            r = api.post(f"/runs/{run_id}/rerun")
            assert r.status_code in (409, 507), r.text  # 409: the run had succeeded
            r = api.get(f"/runs/{run_id}/households", params={"format": "csv"})
            assert r.status_code in (200, 507) or r.status_code >= 500, r.text
            assert r.headers["content-type"].startswith(("text/csv", "application/problem+json"))
            assert api.get("/healthz").status_code == 200
            assert not list(tmpfs.rglob(".tmp-*"))
            hazards = tmpfs / "hazards"
            assert all(any(p.iterdir()) for p in hazards.iterdir())

            filler.unlink()
            assert post_hazard().status_code == 201
            again = api.post("/runs", json=body)
            assert again.status_code == 202, again.text
            while (s := api.get(f"/runs/{again.json()['id']}").json())["status"] in (
                "queued",
                "running",
            ):
                time.sleep(0.1)
            assert s["status"] == "succeeded", s
    finally:
        proc.stop()
