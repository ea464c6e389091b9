"""Map layers of the planners' page: admin boundaries, run density grids, hazard outlines."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from rahat.api.service import run_requests
from rahat.api.service.density import CELL_SIZES, grid_view
from rahat.api.service.deps import AuditDep, SessionsDep, SettingsDep
from rahat.api.service.hazard_requests import find_hazard, stored_layer
from rahat.api.service.layers import boundaries, cached_outline
from rahat.api.service.problems import problem_docs
from rahat.api.service.routers.runs import RunId
from rahat.api.service.security import CurrentPrincipal, ReaderPrincipal
from rahat.geo.errors import InputError
from rahat.geo.units import Level

router = APIRouter(tags=["layers"])


class GridCell(BaseModel):
    """One published cell: its south-west corner and its selected households."""

    lon: float = Field(description="West edge, degrees.")
    lat: float = Field(description="South edge, degrees.")
    selected: int = Field(description="Selected households in the cell (k or more for non-admins).")


class GridOut(BaseModel):
    """Selected households of a run per square lon/lat cell."""

    run_id: str
    cell: float = Field(description="Cell size, degrees.")
    k: int | None = Field(description="Threshold applied; null for admins (nothing withheld).")
    cells: list[GridCell]
    withheld_cells: int = Field(description="Cells holding selected households not shown.")


_GEOJSON = "application/geo+json"
#: Boundaries are public reference data that change only with a release.
_PUBLIC_DAY = "public, max-age=86400"
#: A stored hazard never changes; its outline is for signed-in callers only.
_PRIVATE_DAY = "private, max-age=86400"


def _cached(body: bytes, etag: str, cache: str, if_none_match: str | None) -> Response:
    """``body`` with its ETag, or 304 when the caller already holds it."""
    headers = {"ETag": etag, "Cache-Control": cache}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_GEOJSON, headers=headers)


@router.get(
    "/boundaries/{level}",
    response_class=Response,
    summary="Admin boundaries as GeoJSON",
    responses={200: {"content": {_GEOJSON: {}}}, 304: {}, **problem_docs(401, 422)},
)
async def get_boundaries(
    level: Literal["province", "district", "tehsil"],
    principal: CurrentPrincipal,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The admin units of ``level`` (tehsils: Sindh, the ones with boundaries) as GeoJSON.

    Each feature's properties: ``code`` (the unit's code, as in summaries and agreements),
    ``name``, ``province`` and, for tehsils, ``district`` and ``district_code``. Geometries
    are simplified and rounded to 4 decimals; answered with an ETag and cached for a day.
    """
    body, etag = await anyio.to_thread.run_sync(boundaries, Level(level))
    return _cached(body, etag, _PUBLIC_DAY, if_none_match)


@router.get(
    "/runs/{run_id}/grid",
    summary="Selected households per lon/lat cell",
    response_class=Response,
    responses={200: {"model": GridOut}, **problem_docs(401, 403, 404, 409, 422)},
)
async def get_grid(
    run_id: RunId,
    sessions: SessionsDep,
    settings: SettingsDep,
    audit: AuditDep,
    principal: ReaderPrincipal,
    cell: Annotated[
        float, Query(description="Cell size in degrees: 0.05, 0.1, 0.25 or 0.5.")
    ] = 0.1,
) -> Response:
    """Selected households of a run per square cell of ``cell`` degrees (south-west corners).

    Cells of fewer than k selected households (``RAHAT_K_ANONYMITY``) are withheld for everyone
    but admins, with further cells so that no withheld count can be worked out from the
    published figures or the other cell sizes; ``withheld_cells`` counts them. No household
    and no coordinate is ever answered.
    """
    size = next((c for c in CELL_SIZES if abs(c - cell) < 1e-9), None)
    if size is None:
        raise InputError(f"cell must be one of {', '.join(map(str, CELL_SIZES))} degrees")
    audit.add(run_id=run_id, filter={"cell": size})

    def body() -> bytes:
        import json

        with sessions() as session:
            run_dir = run_requests.figures_dir(session, principal, run_id, settings)
        view = grid_view(run_dir, size, run_requests.threshold(principal, settings))
        return json.dumps({"run_id": run_id, **view}, separators=(",", ":")).encode()

    return Response(await anyio.to_thread.run_sync(body), media_type="application/json")


@router.get(
    "/hazards/{hazard_id}/outline",
    response_class=Response,
    summary="A hazard's footprint outline as GeoJSON",
    responses={200: {"content": {_GEOJSON: {}}}, 304: {}, **problem_docs(400, 401, 403, 404, 422)},
)
async def get_outline(
    hazard_id: Annotated[str, PathParam(max_length=64)],
    sessions: SessionsDep,
    principal: ReaderPrincipal,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Where an uploaded hazard is present (class above 0), dissolved, in EPSG:4326.

    A FeatureCollection with one (Multi)Polygon feature of at most 20 000 vertices (none when
    the hazard is present nowhere) and ``hazard_id``. Rasters are polygonized from a mask of at
    most 1000 x 1000 cells (block maximum). Computed once per hazard.
    """

    def body() -> tuple[bytes, str]:
        with sessions() as session:
            sha256 = find_hazard(session, hazard_id).sha256

            def read() -> object:
                return stored_layer(session, hazard_id)

            return cached_outline(hazard_id, sha256, read), f'"{sha256[:32]}"'

    content, etag = await anyio.to_thread.run_sync(body)
    return _cached(content, etag, _PRIVATE_DAY, if_none_match)
