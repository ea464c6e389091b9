"""No acknowledgement without durability: synced commits, and a failing fsync answers 5xx."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from conftest import REAL_HAZARD, Service, backends, make_settings, queued_run_jobs
from sqlalchemy import text

from rahat.api.service.db import make_engine
from rahat.api.service.models import Hazard, Run


def test_sqlite_commits_are_synced_in_full(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rahat.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("RAHAT_TEST_DATABASE_URL"), reason="RAHAT_TEST_DATABASE_URL not set"
)
def test_postgres_sessions_commit_synchronously_whatever_the_default() -> None:
    base = os.environ["RAHAT_TEST_DATABASE_URL"]
    separator = "&" if "?" in base else "?"
    # a server, role or URL default of 'off' would lose acknowledged commits on a crash
    engine = make_engine(f"{base}{separator}options=-csynchronous_commit%3Doff")
    with engine.connect() as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"
    engine.dispose()


def _failing_fsync(monkeypatch: pytest.MonkeyPatch, *, folders: bool, files: bool) -> None:
    real = os.fsync

    def fsync(fd: int) -> None:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        if (is_dir and folders) or (not is_dir and files):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _hazard_count(service: Service) -> int:
    with service.app.state.sessionmaker() as session:
        return session.query(Hazard).count()


def test_a_failing_folder_fsync_means_no_acknowledged_upload(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename of an upload is durable only once its folder is synced: no sync, no 201."""
    settings = fresh_service.app.state.settings
    before = _hazard_count(fresh_service)
    _failing_fsync(monkeypatch, folders=True, files=False)
    with open(REAL_HAZARD, "rb") as fh:
        r = fresh_service.post("agency", "/hazards", files={"file": (REAL_HAZARD.name, fh)})
    assert r.status_code >= 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    assert _hazard_count(fresh_service) == before  # no record
    assert not list(settings.hazards_dir.rglob("*"))  # no file, no folder
    monkeypatch.undo()
    with open(REAL_HAZARD, "rb") as fh:
        r = fresh_service.post("agency", "/hazards", files={"file": (REAL_HAZARD.name, fh)})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("backend", backends())
def test_a_failing_fsync_fails_the_run_and_keeps_no_folder(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, backend)
    with queued_run_jobs(settings, "PDMA", "agency") as (jobs, sessions, run_id):
        _failing_fsync(monkeypatch, folders=True, files=False)
        jobs.submit(run_id)
        jobs.wait(run_id, timeout=60)
        monkeypatch.undo()
        with sessions() as session:
            stored = session.get(Run, run_id)
            assert stored is not None and stored.status == "failed", stored.status
        assert not list(settings.runs_dir.iterdir())
