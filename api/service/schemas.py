"""Request and response bodies of the Relief API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from rahat.api.service.enums import RunStatus
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.scenario_files import MAX_SCENARIO_BYTES, check_shape
from rahat.engine.targeting.scenario_models import MAX_ITEMS, MAX_NAME_LENGTH

Level = Literal["province", "district", "tehsil"]
#: Levels runs are compared at (tehsils are too small to compare).
CompareLevel = Literal["province", "district"]

#: Largest accepted paging offset (fits every database integer type).
MAX_OFFSET = 2**53

#: Longest id of a run, hazard or agreement the API hands out (uuid4 hex: 32).
MAX_ID_LENGTH = 64

#: Largest agreement id (fits every database integer type).
MAX_AGREEMENT_ID = 2**53

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]


def _inline_scenario(value: Any) -> dict[str, Any]:
    """Accept a JSON object within the scenario limits; :func:`load_scenario` validates it."""
    if not isinstance(value, dict):
        raise ValueError("the scenario must be a JSON object")
    check_shape(value)  # a ScenarioError is a ValueError: a 422, before any job exists
    return value


#: An inline scenario: documented in OpenAPI as the Scenario schema (with all its limits),
#: kept as the mapping sent, so that the stored scenario is exactly what was sent.
InlineScenario = Annotated[
    dict[str, Any], PlainValidator(_inline_scenario, json_schema_input_type=Scenario)
]


class HazardOut(BaseModel):
    """An uploaded, validated hazard file."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: str | None
    filename: str
    sha256: str
    size: int
    created_at: dt.datetime
    inspect: dict[str, Any]


class ScenarioSource(BaseModel):
    """A scenario given inline or by the name of a file in the server's ``scenarios/``."""

    model_config = ConfigDict(extra="forbid")

    scenario: InlineScenario | None = Field(
        default=None,
        description="The scenario itself (the same keys as a scenario file), at most "
        f"{MAX_SCENARIO_BYTES:,} bytes as JSON.",
    )
    scenario_name: str | None = Field(
        default=None,
        max_length=MAX_NAME_LENGTH,
        description="Name of a scenario file in the server's scenarios/ folder, e.g. 'flood.yaml'.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.scenario is None) == (self.scenario_name is None):
            raise ValueError("give exactly one of 'scenario' (inline) or 'scenario_name'")
        return self


class RunCreate(ScenarioSource):
    """A scenario to run: inline, or by the name of a file in the server's ``scenarios/``."""

    hazards: (
        Annotated[
            dict[Annotated[str, Field(max_length=MAX_NAME_LENGTH)], Id], Field(max_length=MAX_ITEMS)
        ]
        | Annotated[list[Id], Field(max_length=MAX_ITEMS)]
    ) = Field(
        default_factory=dict,
        description="Hazard ids from POST /hazards: a mapping from the scenario's hazard key to "
        "the id, or a list of ids (keyed by each hazard's name).",
    )


class RunOut(BaseModel):
    """State of a run."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    status: RunStatus
    progress: float
    stage: str | None
    error: str | None
    scenario_name: str | None
    hazards: dict[str, str]
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class Figures(BaseModel):
    """Counts and sums of one unit; ``None`` where suppressed (fewer than k households)."""

    model_config = ConfigDict(extra="allow")

    households: int | None
    eligible: int | None
    selected: int | None
    persons_selected: int | None
    benefit: float | None
    suppressed: bool = False


class SummaryOut(BaseModel):
    """Aggregates of a run by admin unit."""

    run_id: str
    level: Level
    k: int | None = Field(description="Suppression threshold applied; null for admins.")
    totals: Figures
    units: list[Figures]


class CompareRequest(BaseModel):
    """Two runs to compare."""

    model_config = ConfigDict(extra="forbid")

    run_a: Id
    run_b: Id
    level: CompareLevel = "district"


class CompareOut(BaseModel):
    """Selected caseloads of two runs side by side; counts below k are null."""

    run_a: str
    run_b: str
    level: Level
    k: int | None
    overlap: dict[str, int | None]
    units: list[dict[str, Any]]


class PublishRequest(BaseModel):
    """Agreements to publish a run under."""

    model_config = ConfigDict(extra="forbid")

    agreements: list[Annotated[int, Field(ge=1, le=MAX_AGREEMENT_ID)]] = Field(
        min_length=1, max_length=1000, description="Ids of data-sharing agreements."
    )


class PublishOut(BaseModel):
    """The agreements a run is published under."""

    run_id: str
    agreements: list[int]


class HouseholdPage(BaseModel):
    """One page of household rows (JSON format)."""

    total: int = Field(description="Rows matching the request before paging.")
    offset: int
    limit: int | None
    fields: list[str]
    items: list[dict[str, Any]]


class AuditOut(BaseModel):
    """One audit-log entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    organisation: str = Field(description="The caller's organisation; empty when no key resolved.")
    role: str = Field(description="The caller's role; 'anonymous' when no key resolved.")
    key_prefix: str | None = Field(
        default=None, description="Lookup prefix of the API key presented (never the token)."
    )
    method: str = ""
    route: str | None = Field(default=None, description="Route template, e.g. /runs/{run_id}.")
    path: str = ""
    action: str
    outcome: int = Field(description="HTTP status answered.")
    run_id: str | None
    agreement_id: int | None
    filter: dict[str, Any]
    rows: int
    fields: list[str]


class Health(BaseModel):
    """Liveness and readiness."""

    status: Literal["ok"]
    database: str
    runs_in_flight: int
