"""``/healthz``: is the service up, its database reachable, and which registry it serves."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from rahat.api.service.deps import SessionDep, SettingsDep
from rahat.api.service.enums import IN_FLIGHT
from rahat.api.service.models import Run
from rahat.api.service.problems import problem_docs
from rahat.api.service.registry_status import NO_REGISTRY_HINT, registry_status
from rahat.api.service.schemas import Health
from rahat.geo.errors import UnavailableError

router = APIRouter(tags=["health"])


class RegistryHealth(BaseModel):
    """The household registry runs use (``RAHAT_REGISTRY_PATH``); its file name only."""

    name: str = Field(description="File name of the registry (never the server path).")
    exists: bool
    households: int | None = Field(description="Households, from the Parquet footer.")
    hint: str | None = Field(default=None, description="What to do when there is none.")


class HealthOut(Health):
    """Liveness, readiness and the registry served."""

    registry: RegistryHealth


@router.get("/healthz", response_model=HealthOut, responses=problem_docs(503))
def healthz(session: SessionDep, settings: SettingsDep) -> HealthOut:
    """Liveness and readiness: 200 when the database answers, 503 otherwise (no auth).

    Also tells which registry runs use and whether it exists; without one, ``POST /runs``
    answers 503.
    """
    try:
        session.execute(text("SELECT 1"))
        in_flight = session.scalar(
            select(func.count()).select_from(Run).where(Run.status.in_(IN_FLIGHT))
        )
    except SQLAlchemyError as exc:
        raise UnavailableError("The metadata database does not answer; retry shortly.") from exc
    status = registry_status(settings.registry_path)
    return HealthOut(
        status="ok",
        database=session.get_bind().dialect.name,
        runs_in_flight=in_flight or 0,
        registry=RegistryHealth(
            name=status.name,
            exists=status.exists,
            households=status.households,
            hint=None if status.exists else NO_REGISTRY_HINT,
        ),
    )
