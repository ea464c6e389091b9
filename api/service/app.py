"""The Relief API application, built by :func:`create_app` (nothing happens at import)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rahat.api.service.settings import Settings

logger = logging.getLogger("rahat.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application.

    Parameters
    ----------
    settings
        Service settings; read from ``RAHAT_*`` environment variables when omitted.

    Returns
    -------
    fastapi.FastAPI
        The application. On start-up it creates the state folders and tables, marks runs left
        in flight by a previous process ``interrupted``, and starts the worker pool; on
        shutdown it interrupts running jobs and stops the pool.
    """
    from rahat.api.service.audit_middleware import AuditMiddleware
    from rahat.api.service.db import create_schema, make_engine, make_sessionmaker
    from rahat.api.service.docs import install_docs
    from rahat.api.service.gap import GapService, survey_status
    from rahat.api.service.jobs import JobManager
    from rahat.api.service.limits import BodyLimitMiddleware
    from rahat.api.service.problems import document_validation_problems, install_problem_handlers
    from rahat.api.service.registry_status import registry_status
    from rahat.api.service.routers import (
        audit,
        brief,
        claims,
        gap,
        grievances,
        hazard_diff,
        hazards,
        health,
        layers,
        page,
        runs,
        triggers,
        whatif,
    )

    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    jobs = JobManager(settings, sessions)
    gap_service = GapService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        create_schema(engine)
        # Say which registry runs will use (file name only, never the server path).
        status = registry_status(settings.registry_path)
        (logger.info if status.exists else logger.warning)("Rahat serves %s", status.describe())
        logger.info("Rahat serves %s", survey_status(settings, strict=False))
        jobs.start()
        try:
            yield
        finally:
            jobs.stop()
            gap_service.close()
            engine.dispose()

    app = FastAPI(
        title="Rahat Relief API",
        version="0.1.0",
        summary="Hazard uploads, scenario runs and household lists under data-sharing agreements.",
        lifespan=lifespan,
        docs_url=None,  # served offline by install_docs
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessions
    app.state.jobs = jobs
    app.state.gap = gap_service
    install_problem_handlers(app)
    document_validation_problems(app)
    # Authenticate before a body is read and cap bodies (inside the audit middleware, which
    # thus records its 401/413 refusals).
    app.add_middleware(BodyLimitMiddleware)
    # One audit event per request (inside the 500 handler, outside the 4xx handlers).
    app.add_middleware(AuditMiddleware)
    for module in (health, page, hazard_diff, hazards, runs, brief, whatif, gap, audit, layers):
        app.include_router(module.router)
    app.include_router(triggers.router)
    app.include_router(claims.router)
    app.include_router(grievances.router)
    install_docs(app)
    return app
