"""Settings of the Relief API, read from ``RAHAT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    from rahat.geo.paths import cache_dir

    return cache_dir() / "service"


def _default_registry_path() -> Path:
    from rahat.geo.demo_registry import demo_registry_path

    return demo_registry_path()


def _default_scenarios_dir() -> Path:
    from rahat.geo.paths import scenarios_dir

    return scenarios_dir()


class Settings(BaseSettings):
    """Configuration of the service; every field can be set as ``RAHAT_<NAME>``.

    Attributes
    ----------
    state_dir
        Folder for artifacts (uploaded hazards, run outputs) and, by default, the SQLite database.
    database_url
        SQLAlchemy URL of the metadata database. Default ``sqlite:///<state_dir>/rahat.db``
        (WAL mode); a ``postgresql+psycopg://`` URL works through the same code.
    max_upload_bytes
        Largest hazard upload accepted; larger ones are refused with 413.
    k_anonymity
        Aggregates of fewer households than this are suppressed for everyone but admins.
    workers
        Size of the worker pool that executes scenario runs inside the server process.
    registry_path
        Household registry the runs use, ``RAHAT_REGISTRY_PATH`` (default: the registry
        ``rahat demo`` builds in the cache). ``/healthz`` and the start-up log name it (file
        name only); when it does not exist ``POST /runs`` answers 503.
    survey_path
        Household survey (Parquet or CSV, with design weights and registration status) of the
        coverage-gap estimates ``GET /gap`` serves, ``RAHAT_SURVEY_PATH`` or ``rahat serve
        --survey``; default: ``survey.parquet`` next to the registry, where ``rahat demo`` and
        ``rahat registry synth`` write it. Without one ``GET /gap`` answers 503.
    gap_denominators
        Households per district of the gap estimates: the 2023 ``census`` (a real registry) or
        the ``survey``'s own weighted estimate (a synthetic or scaled-down registry, such as
        the demo's).
    gap_wait_seconds
        Seconds a ``GET /gap`` request waits for the estimate (computed once, on the first
        request, then cached); a longer computation answers 503 with ``Retry-After``.
    scenarios_dir
        Folder of named scenario files that ``POST /runs`` may refer to.
    guard_scope
        Runs the differencing guard (:mod:`.guard`) compares a new run with: its own
        organisation's (default: agencies and planners read only their own runs) or ``all``.
    guard_window_runs
        The guard compares a new run with at most this many recent readable runs.
    guard_window_days
        The guard compares a new run only with runs finished within this many days.
    max_runs_per_hour
        Runs an organisation may start per hour (admins exempt; 0 switches the limit off).
    max_json_bytes
        Largest request body accepted other than a hazard upload (JSON bodies); larger ones
        are refused with 413 without being read (see :mod:`.limits`).
    header_timeout
        Seconds a client has, from its first byte (or from connecting), to send a request's
        line and headers (``rahat serve``); then the connection is closed (408).
    body_timeout
        Seconds ``rahat serve`` waits for the next piece of a request body before closing the
        connection.
    keep_alive_timeout
        Seconds ``rahat serve`` keeps an idle connection open between requests.
    max_header_bytes
        Largest request line and headers ``rahat serve`` accepts (431 beyond).
    max_connections
        Connections and requests ``rahat serve`` serves at once (503 beyond).
    key_cache_seconds
        Seconds a resolved API key is trusted without asking the database again (0: always
        ask). A key revoked, or an organisation's role changed, by another process
        (``rahat key revoke``) takes effect within this time; changes made by the server's
        own process take effect at once.
    grievance_sla_days
        Days a grievance ticket has from being opened until it is due (``due_at``); an open
        or under-review ticket past its due time is overdue.
    claims_max_batch
        Most claims in one ``POST /claims`` batch (413 beyond).
    claims_max_json_bytes
        Largest ``POST /claims`` body (413 beyond, refused as it streams in): room for a full
        batch of claims with names and addresses.
    claims_per_minute
        ``POST /claims`` calls one API key may make per minute (429 beyond; 0 switches the
        limit off).
    claims_phone_velocity
        Distinct CNICs behind one phone in a batch from which its claims are flagged
        ``phone_velocity``.
    dask_scheduler
        The Dask cluster the runs overlay and rank on, ``RAHAT_DASK_SCHEDULER`` (as for
        ``rahat run --cluster``): a scheduler address ``tcp://host:8786``, or ``local:N`` (a
        cluster of N processes started for each run); unset, runs stay in the server process.
        The workers read the registry's snapshot (the registry's own, or its cached import under
        ``RAHAT_CACHE_DIR``) and the uploaded raster files (under the state folder) at the
        paths the server uses: put them on a filesystem every worker mounts at the same path.
    """

    model_config = SettingsConfigDict(env_prefix="RAHAT_", extra="ignore")

    state_dir: Path = Field(default_factory=_default_state_dir)
    database_url: str = ""
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    k_anonymity: int = Field(default=10, ge=1)
    workers: int = Field(default=2, ge=1, le=64)
    registry_path: Path = Field(default_factory=_default_registry_path)
    survey_path: Path | None = None
    gap_denominators: Literal["census", "survey"] = "census"
    gap_wait_seconds: float = Field(default=60.0, gt=0, le=3600)
    scenarios_dir: Path = Field(default_factory=_default_scenarios_dir)
    log_level: str = "info"
    guard_scope: Literal["organisation", "all"] = "organisation"
    guard_window_runs: int = Field(default=200, ge=1)
    guard_window_days: int = Field(default=30, ge=1)
    max_runs_per_hour: int = Field(default=30, ge=0)
    max_json_bytes: int = Field(default=1024 * 1024, gt=0)
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    keep_alive_timeout: int = Field(default=30, ge=1)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    max_connections: int = Field(default=1000, ge=1)
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    grievance_sla_days: int = Field(default=14, ge=1, le=365)
    claims_max_batch: int = Field(default=10_000, ge=1)
    claims_max_json_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    claims_per_minute: int = Field(default=30, ge=0)
    claims_phone_velocity: int = Field(default=5, ge=2)
    dask_scheduler: str | None = None

    @field_validator("dask_scheduler")
    @classmethod
    def _check_cluster(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from rahat.engine.distributed.cluster import cluster_spec
        from rahat.geo.errors import InputError

        try:
            return cluster_spec(value)
        except InputError as exc:
            raise ValueError(str(exc).replace("--cluster", "RAHAT_DASK_SCHEDULER")) from None

    @model_validator(mode="after")
    def _fill_database_url(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.state_dir.resolve() / 'rahat.db'}"
        return self

    @property
    def survey_file(self) -> Path:
        """The survey of the gap estimates: :attr:`survey_path`, or the one next to the registry."""
        if self.survey_path is not None:
            return self.survey_path
        from rahat.geo.registry.synth import SURVEY_FILE

        return self.registry_path.parent / SURVEY_FILE

    @property
    def hazards_dir(self) -> Path:
        """Folder holding uploaded hazard files, one sub-folder per hazard id."""
        return self.state_dir / "hazards"

    @property
    def runs_dir(self) -> Path:
        """Folder holding run outputs, one sub-folder per run id."""
        return self.state_dir / "runs"

    def ensure_dirs(self) -> None:
        """Create the state folders if they do not exist yet."""
        for path in (self.state_dir, self.hazards_dir, self.runs_dir):
            path.mkdir(parents=True, exist_ok=True)
