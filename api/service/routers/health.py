"""``/healthz``: is the service up and its database reachable."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from rahat.api.service.models import Run
from rahat.api.service.problems import problem_docs
from rahat.api.service.schemas import Health
from rahat.api.service.security import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=problem_docs(503))
def healthz(session: SessionDep) -> Health:
    """Liveness and readiness: 200 when the database answers, 503 otherwise (no auth)."""
    try:
        session.execute(text("SELECT 1"))
        in_flight = session.scalar(
            select(func.count()).select_from(Run).where(Run.status.in_(("queued", "running")))
        )
    except SQLAlchemyError as exc:
        raise HTTPException(503, "The metadata database does not answer; retry shortly.") from exc
    return Health(
        status="ok", database=session.get_bind().dialect.name, runs_in_flight=in_flight or 0
    )
