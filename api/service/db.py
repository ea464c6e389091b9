"""Database engine factory: SQLite in WAL mode by default, PostgreSQL through the same code.

Every commit is durable before it is acknowledged: SQLite runs with ``synchronous=FULL`` (the
WAL is synced at each commit, so an upload answered 201 or a run answered 202 survives a power
loss) and PostgreSQL sessions with ``synchronous_commit = on``, whatever the server's or role's
default. A full disk (SQLite's ``SQLITE_FULL``, PostgreSQL's ``disk_full``) is raised as
:class:`~rahat.geo.errors.StorageFullError`, which the API answers with 507.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _postgres_durable(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = on")
    dbapi_connection.commit()


def _storage_full(context: Any) -> None:
    """Raise :class:`StorageFullError` in place of a database error saying the disk is full."""
    from rahat.api.service.storage import is_storage_full
    from rahat.geo.errors import StorageFullError

    if is_storage_full(context.original_exception):
        raise StorageFullError() from context.original_exception


def make_engine(url: str) -> Engine:
    """Create the SQLAlchemy engine for ``url``.

    Parameters
    ----------
    url
        SQLAlchemy database URL. For SQLite, the parent folder of the file is created, and every
        connection switches on WAL journaling with ``synchronous=FULL``, foreign keys and a
        30 s busy timeout; PostgreSQL sessions get ``synchronous_commit = on``.

    Returns
    -------
    sqlalchemy.Engine
        The engine; connections are made lazily.
    """
    if url.startswith("sqlite"):
        from pathlib import Path

        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=16,
            max_overflow=48,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _postgres_durable)
    event.listen(engine, "handle_error", _storage_full)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Create all tables (and the audit log's append-only triggers) that do not exist yet.

    Columns added to a table since a database was made are added too (nullable), so a
    database made by an earlier version keeps working; see :func:`add_missing_columns`.
    """
    from rahat.api.service.models import Base

    Base.metadata.create_all(engine)
    add_missing_columns(engine)


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the model columns an existing table lacks, as nullable columns.

    ``create_all`` creates missing tables but never changes existing ones; this is the small
    forward migration the service needs when a release adds columns.

    Returns
    -------
    list of str
        ``table.column`` of each column added.
    """
    from sqlalchemy import inspect, text

    from rahat.api.service.models import Base

    inspector = inspect(engine)
    added = []
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as connection:
                connection.execute(
                    text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                )
            added.append(f"{table.name}.{column.name}")
    return added
