"""Database engine factory: SQLite in WAL mode by default, PostgreSQL through the same code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create the SQLAlchemy engine for ``url``.

    Parameters
    ----------
    url
        SQLAlchemy database URL. For SQLite, the parent folder of the file is created, and every
        connection switches on WAL journaling, foreign keys and a 30 s busy timeout.

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
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


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
