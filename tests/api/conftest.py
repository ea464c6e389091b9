"""Fixtures of the Relief API tests: settings, a service with organisations, a caseload run."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rahat.api.service.admin import add_agreement, add_organisation, create_key
from rahat.api.service.app import create_app
from rahat.api.service.models import Hazard, Run
from rahat.api.service.settings import Settings

TODAY = dt.datetime.now(dt.UTC).date()

#: (province, district, district_pcode, tehsil, tehsil_pcode, households) of the test caseload.
UNITS = [
    ("Sindh", "Dadu", "PK703", "Dadu", "PK70301", 40),
    ("Sindh", "Dadu", "PK703", "Johi", "PK70302", 30),
    ("Sindh", "Dadu", "PK703", "Mehar", "PK70304", 3),
    ("Sindh", "Larkana", "PK713", "Larkana", "PK71303", 40),
    ("Sindh", "Larkana", "PK713", "Dokri", "PK71302", 20),
    ("Sindh", "Jamshoro", "PK708", "Kotri", "PK70801", 25),
]


def backends() -> list[object]:
    """SQLite always; PostgreSQL when RAHAT_TEST_DATABASE_URL is set."""
    return [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    not os.environ.get("RAHAT_TEST_DATABASE_URL"),
                    reason="RAHAT_TEST_DATABASE_URL not set",
                ),
            ],
        ),
    ]


def database_url(backend: str, state_dir: Path) -> str:
    """Database URL of ``backend``; a PostgreSQL database is emptied first."""
    if backend == "sqlite":
        return f"sqlite:///{state_dir / 'rahat.db'}"
    from sqlalchemy import text

    from rahat.api.service.db import make_engine

    # One schema per pytest-xdist worker, so that parallel workers never share tables.
    schema = "rahat_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = os.environ["RAHAT_TEST_DATABASE_URL"]
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def make_settings(root: Path, backend: str = "sqlite", **overrides: object) -> Settings:
    state = root / "state"
    state.mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {
        "state_dir": state,
        "database_url": database_url(backend, state),
        "registry_path": root / "registry.parquet",
        "scenarios_dir": root / "scenarios",
        "workers": 1,
    }
    values.update(overrides)
    return Settings(**values)


def caseload_table(seed: int = 0) -> pa.Table:
    """A caseload with the documented columns over :data:`UNITS` (80 % selected)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {
        k: [] for k in ("province", "district", "district_pcode", "tehsil", "tehsil_pcode")
    }
    for province, district, dpc, tehsil, tpc, n in UNITS:
        for key, value in zip(rows, (province, district, dpc, tehsil, tpc), strict=True):
            rows[key] += [value] * n
    n = len(rows["province"])
    idx = np.arange(n)
    selected = idx % 5 != 0
    return pa.table(
        {
            "household_id": pa.array(1_000_000_007 + idx * 7919 + seed, pa.int64()),
            "rank": pa.array(idx + 1, pa.int64()),
            "selected": pa.array(selected),
            "eligible": pa.array(idx % 7 != 0),
            "score": pa.array(rng.random(n)),
            "benefit": pa.array(np.where(selected, 25_000.0, 0.0)),
            "amount": pa.array(np.where(selected, 25_000, 0), pa.int64()),
            "exposed": pa.array(idx % 3 != 0),
            "reasons": pa.array(["pmt<=32; depth>=0.3"] * n),
            **{k: pa.array(v, pa.string()).dictionary_encode() for k, v in rows.items()},
            "lon": pa.array(67.5 + rng.random(n)),
            "lat": pa.array(26.5 + rng.random(n)),
            "household_size": pa.array(rng.integers(1, 12, n), pa.int64()),
            "pmt_score": pa.array(rng.random(n) * 60),
            "depth_intensity": pa.array(rng.random(n) * 3),
            "depth_class": pa.array(["deep"] * n),
            "score_severity": pa.array(rng.random(n)),
            "score_poverty": pa.array(rng.random(n)),
        }
    )


@contextlib.contextmanager
def queued_run_jobs(
    settings: Settings, organisation: str, role: str
) -> Iterator[tuple[Any, Any, str]]:
    """A started job manager whose runner writes :func:`caseload_table`, and one queued run.

    The run belongs to a new ``organisation`` of ``role``. Yields the ``JobManager``, the
    session factory and the run's id (not yet submitted); stops the manager after.
    """
    from rahat.api.service.db import create_schema, make_engine, make_sessionmaker
    from rahat.api.service.jobs import JobManager

    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    sessions = make_sessionmaker(engine)

    def runner(scenario: dict[str, Any], *, out_dir: Path, **_: Any) -> dict[str, Any]:
        pq.write_table(caseload_table(), out_dir / "caseload.parquet")
        return {}

    jobs = JobManager(settings, sessions, runner=runner)
    jobs.start()
    try:
        with sessions() as session, session.begin():
            org = add_organisation(session, organisation, role)
            session.flush()
            run = Run(scenario={"name": "x"}, hazards={}, status="queued", created_by=org.id)
            session.add(run)
            session.flush()
            run_id = run.id
        yield jobs, sessions, run_id
    finally:
        jobs.stop()
        engine.dispose()


def png_bytes() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def add_finished_run(app: FastAPI, table: pa.Table, created_by: int) -> str:
    """Record a succeeded run whose artifact folder holds ``table`` as its caseload."""
    settings: Settings = app.state.settings
    with app.state.sessionmaker() as session, session.begin():
        run = Run(
            scenario={"name": "fixture"},
            hazards={},
            status="succeeded",
            progress=1.0,
            attempts=1,
            created_by=created_by,
        )
        session.add(run)
        session.flush()
        run_id = run.id
        run_dir = settings.runs_dir / run_id
        run_dir.mkdir(parents=True)
        pq.write_table(table, run_dir / "caseload.parquet")
        (run_dir / "map.png").write_bytes(png_bytes())
        run.artifact_dir = str(run_dir)
    return run_id


def publish(app: FastAPI, run_id: str, organisations: list[str]) -> None:
    """Publish ``run_id`` to the agreements of ``organisations`` (as an agency would)."""
    from sqlalchemy import select

    from rahat.api.service.models import Agreement, Organisation, RunShare

    with app.state.sessionmaker() as session, session.begin():
        agreements = session.scalars(
            select(Agreement)
            .join(Organisation, Agreement.organisation_id == Organisation.id)
            .where(Organisation.name.in_(organisations))
        ).all()
        for agreement in agreements:
            session.add(RunShare(run_id=run_id, agreement_id=agreement.id, published_by=1))


def add_hazard_record(app: FastAPI, uploaded_by: int) -> str:
    """Record a hazard (as a committed upload would) and return its id."""
    settings: Settings = app.state.settings
    with app.state.sessionmaker() as session, session.begin():
        hazard = Hazard(
            name="depth",
            kind="flood_depth",
            filename="depth.tif",
            path=str(settings.hazards_dir / "none" / "depth.tif"),
            sha256="0" * 64,
            size=1,
            uploaded_by=uploaded_by,
            inspect={"kind": "flood_depth"},
        )
        session.add(hazard)
        session.flush()
        return hazard.id


#: Data-sharing agreements of the test NGOs.
NGO_FIELDS = ["district", "tehsil", "tehsil_pcode", "benefit", "rank", "lon", "lat", "score_*"]
AGREEMENTS: dict[str, dict[str, object]] = {
    "ngo": {"units": ["district:Dadu"], "fields": NGO_FIELDS, "max_rows": 50},
    "ngo_ids": {
        "units": ["PK713"],
        "fields": ["household_id", "district", "tehsil", "benefit"],
        "max_rows": 1000,
    },
    "ngo_other": {"units": ["district:pk703"], "fields": ["district"], "max_rows": 1000},
    "ngo_expired": {
        "units": ["district:PK703"],
        "fields": NGO_FIELDS,
        "max_rows": 1000,
        "valid_from": TODAY - dt.timedelta(days=60),
        "valid_to": TODAY - dt.timedelta(days=1),
    },
    "ngo_future": {
        "units": ["district:PK703"],
        "fields": NGO_FIELDS,
        "max_rows": 1000,
        "valid_from": TODAY + dt.timedelta(days=1),
        "valid_to": TODAY + dt.timedelta(days=60),
    },
}
ROLES_OF = {
    "admin": "admin",
    "agency": "agency",
    "planner": "planner",
    "ngo": "ngo",
    "ngo_ids": "ngo",
    "ngo_other": "ngo",
    "ngo_expired": "ngo",
    "ngo_future": "ngo",
    "ngo_none": "ngo",
}


@dataclass
class Service:
    """A started app with a client, one API key per organisation and a finished run."""

    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    run_id: str
    other_run_id: str
    table: pa.Table
    hazard_id: str
    org_ids: dict[str, int] = field(default_factory=dict)
    #: A run of the planner's own (private to it).
    planner_run_id: str = ""

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str | None, url: str, **kwargs: object):
        return self.client.get(url, headers=self.headers(who), **kwargs)

    def post(self, who: str | None, url: str, **kwargs: object):
        return self.client.post(url, headers=self.headers(who), **kwargs)


def populate(app: FastAPI) -> tuple[dict[str, str], dict[str, int]]:
    """Create one organisation per entry of :data:`ROLES_OF`, with a key and agreements."""
    tokens, org_ids = {}, {}
    with app.state.sessionmaker() as session, session.begin():
        for name, role in ROLES_OF.items():
            org_ids[name] = add_organisation(session, name, role).id
            tokens[name], _ = create_key(session, name)
        for name, terms in AGREEMENTS.items():
            add_agreement(
                session,
                name,
                units=terms["units"],
                fields=terms["fields"],
                purpose="Cash assistance after the 2022 floods",
                valid_from=terms.get("valid_from"),
                valid_to=terms.get("valid_to", TODAY + dt.timedelta(days=365)),
                max_rows=terms["max_rows"],
            )
    return tokens, org_ids


def start_service(settings: Settings) -> Iterator[Service]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens, org_ids = populate(app)
        table = caseload_table()
        run_id = add_finished_run(app, table, org_ids["agency"])
        publish(app, run_id, ["ngo", "ngo_ids", "ngo_other"])
        other = add_finished_run(app, caseload_table(seed=1).slice(10), org_ids["agency"])
        planner_run = add_finished_run(app, caseload_table(seed=2), org_ids["planner"])
        hazard_id = add_hazard_record(app, org_ids["agency"])
        yield Service(app, client, tokens, run_id, other, table, hazard_id, org_ids, planner_run)


@pytest.fixture(scope="module", params=backends())
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A running service (shared by a test module) on each database backend."""
    settings = make_settings(tmp_path_factory.mktemp("svc"), request.param)
    yield from start_service(settings)


@pytest.fixture(params=backends())
def fresh_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A running service of its own, for tests that change keys or state."""
    yield from start_service(make_settings(tmp_path, request.param))


#: A real hazard file: the Ministry of Water's 2022-08-26 flood-warning watersheds (GeoJSON).
REAL_HAZARD = (
    Path(__file__).resolve().parents[2]
    / "data/hazard/flood2022_mom_watershed_alerts/20220826_warning.geojson"
)


def flood_scenario(
    layer: str = "warning", name: str = "api_test_flood", pmt_cutoff: float = 40, **sections: Any
) -> dict[str, object]:
    """An inline scenario using an uploaded flood-extent layer keyed ``layer``.

    ``sections`` adds top-level sections (a budget, quotas, ...).
    """
    return {
        "name": name,
        "hazards": [{"name": layer, "path": "upload", "kind": "flood_extent"}],
        "eligibility": {
            "pmt_cutoff": pmt_cutoff,
            "hazard": [{"layer": layer, "min_intensity": 0.5}],
        },
        "benefit": {"kind": "fixed", "amount": 25000},
        **sections,
    }


@pytest.fixture(scope="session")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic registry (about 1,700 registered households) written once per session."""
    from rahat.geo.registry.synth import write_demo

    _, registry = write_demo(2000, 7, tmp_path_factory.mktemp("registry"))
    return registry


class ServerProcess:
    """``rahat serve`` as a real process on 127.0.0.1 (a free port), with bounded waits."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        import httpx

        code = "from rahat.api.cli import main; main()"
        args = [
            sys.executable,
            "-c",
            code,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rahat serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"rahat serve did not start in {timeout} s")

    def kill(self) -> None:
        """Stop the server at once (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def server_env(settings: Settings) -> dict[str, str]:
    """``RAHAT_*`` variables that make a server process use ``settings``."""
    return {
        "RAHAT_STATE_DIR": str(settings.state_dir),
        "RAHAT_DATABASE_URL": settings.database_url,
        "RAHAT_REGISTRY_PATH": str(settings.registry_path),
        "RAHAT_SCENARIOS_DIR": str(settings.scenarios_dir),
        "RAHAT_WORKERS": str(settings.workers),
    }


def api_client(proc: ServerProcess, token: str, timeout: float = 120) -> Any:
    """An ``httpx.Client`` on the server ``proc`` sending ``token`` as its API key."""
    import httpx

    return httpx.Client(
        base_url=proc.url, timeout=timeout, headers={"Authorization": f"Bearer {token}"}
    )


def run_succeeded(client: Any, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll ``GET /runs/{id}`` with the ``httpx.Client`` ``client``; assert the run succeeded."""
    deadline = time.monotonic() + timeout
    while (status := client.get(f"/runs/{run_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "succeeded", status
    return dict(status)


def wait_for_run(service: Service, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll ``GET /runs/{id}`` as the agency until the run leaves queued/running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = service.get("agency", f"/runs/{run_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


@pytest.fixture(params=backends())
def real_server(
    request: pytest.FixtureRequest, tmp_path: Path, registry_file: Path
) -> Iterator[Callable[..., tuple[ServerProcess, dict[str, str]]]]:
    """On each backend: a starter of ``rahat serve`` on ``registry_file`` (stopped after).

    Call it with the organisations (name -> role) and the agreement's arguments (see
    :func:`start_server` and :func:`ngo_agreement`); it returns the server and the tokens.
    """
    with contextlib.ExitStack() as stack:

        def start(
            organisations: dict[str, str], agreement: list[str]
        ) -> tuple[ServerProcess, dict[str, str]]:
            served = start_server(tmp_path, request.param, registry_file, organisations, agreement)
            stack.callback(served.close)
            return next(served)

        yield start


def ngo_agreement(organisation: str, units: str, fields: str, *more: str) -> list[str]:
    """Arguments of ``rahat agreement add``: ``units`` and ``fields`` until 2099, for cash."""
    return [
        organisation,
        "--units",
        units,
        "--fields",
        fields,
        *more,
        "--valid-to",
        "2099-12-31",
        "--purpose",
        "cash transfers after the floods",
    ]


def start_server(
    root: Path,
    backend: str,
    registry: Path,
    organisations: dict[str, str],
    agreement: list[str],
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """Serve ``rahat serve`` with ``organisations`` (name -> role), one key each, an agreement.

    Yields the running server and the API token of each role, and stops the server after
    (``yield from`` it in a fixture). ``agreement`` is the argument list of
    ``rahat agreement add`` after ``add``.
    """
    settings = make_settings(root, backend, registry_path=registry)
    env = server_env(settings)
    tokens = {}
    for org, role in organisations.items():
        cli_ok(env, "org", "add", org, "--role", role)
        tokens[role] = cli_ok(env, "key", "create", org).strip()
    cli_ok(env, "agreement", "add", *agreement)
    proc = ServerProcess(env, root / "server.log").start()
    try:
        yield proc, tokens
    finally:
        proc.stop()


def cli_ok(env: dict[str, str], *args: str) -> str:
    """Run a ``rahat`` command in-process under ``env``; return its stdout."""
    from typer.testing import CliRunner

    from rahat.api.cli.main import app as cli

    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[tuple[str, Any]]:
    """A Dask LocalCluster of two worker processes for the cluster tests of a module.

    Yields its scheduler's address (what ``--cluster tcp://...`` and ``RAHAT_DASK_SCHEDULER``
    name, as for a cluster of other machines) and a client to inspect it. Per module, not per
    session: an idle cluster still costs a little CPU, which the rest of the suite would pay.
    """
    pytest.importorskip("distributed")
    from distributed import Client

    from rahat.engine.distributed.cluster import local_cluster

    with local_cluster(2) as cluster, Client(cluster) as client:
        yield cluster.scheduler_address, client


def tasks_done(client: Any, prefix: str) -> int:
    """How many tasks named ``prefix`` (a function's name, without leading ``_``) have finished
    on ``client``'s cluster so far: it grows only when a command ran that stage there."""

    def count(dask_scheduler: Any) -> int:
        found = dask_scheduler.task_prefixes.get(prefix)
        return 0 if found is None else int(found.state_counts.get("memory", 0))

    return int(client.run_on_scheduler(count))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked ``slow`` first, the rest in their order (a stable sort).

    ``pytest -n auto`` hands tests to its workers in this order; a long test collected last
    (the README's tour, about 100 s, is the suite's last file) would otherwise run alone at the
    end while the other worker waits. The hook sees the whole session's tests, not only this
    folder's.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
