"""What routes get from the application, as FastAPI dependencies (``Annotated`` aliases).

Routes never read ``request.app.state`` themselves: they declare the database session, the
settings, the job manager, the session factory, the gap estimate or their request's audit
note as a parameter of one of these types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from rahat.api.service.audit import AuditNote, notes_of
from rahat.api.service.gap import GapService
from rahat.api.service.jobs import JobManager
from rahat.api.service.settings import Settings
from rahat.api.service.whatif import WhatIfService

T = TypeVar("T")

#: What-ifs evaluated at once per process; more wait their turn (the server stays responsive).
CONCURRENT_WHATIFS = 2


def get_settings(request: Request) -> Settings:
    """The settings of the application serving ``request``."""
    settings: Settings = request.app.state.settings
    return settings


def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory of the service database (for work outside the request's session)."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    return sessions


def get_session(request: Request) -> Iterator[Session]:
    """Yield a database session for one request."""
    with get_sessions(request)() as session:
        yield session


def get_jobs(request: Request) -> JobManager:
    """The job manager (worker pool) executing the application's runs."""
    jobs: JobManager = request.app.state.jobs
    return jobs


def get_gap(request: Request) -> GapService:
    """The application's coverage-gap estimate (:mod:`rahat.api.service.gap`)."""
    gap: GapService = request.app.state.gap
    return gap


def get_audit(request: Request) -> AuditNote:
    """The audit note of ``request``, which the audit middleware writes with its event."""
    return notes_of(request)


def _shared(request: Request, name: str, make: Callable[[], T]) -> T:
    """The application's object ``name``, made by ``make`` on first use."""
    state = request.app.state
    value: T | None = getattr(state, name, None)
    if value is None:
        value = make()
        setattr(state, name, value)
    return value


def get_whatif_service(request: Request) -> WhatIfService:
    """The application's what-if service (created on first use)."""
    return _shared(request, "whatif_service", WhatIfService)


def get_whatif_limiter(request: Request) -> anyio.CapacityLimiter:
    """The limiter admitting :data:`CONCURRENT_WHATIFS` what-ifs at once (created on first use)."""
    return _shared(request, "whatif_limiter", lambda: anyio.CapacityLimiter(CONCURRENT_WHATIFS))


SessionDep = Annotated[Session, Depends(get_session)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
AuditDep = Annotated[AuditNote, Depends(get_audit)]
GapDep = Annotated[GapService, Depends(get_gap)]
WhatIfServiceDep = Annotated[WhatIfService, Depends(get_whatif_service)]
WhatIfLimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_whatif_limiter)]
