"""Every error as an RFC 9457 problem document (``application/problem+json``), never a trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rahat.api.service.identity_text import mask_path
from rahat.api.service.redact import redact_paths
from rahat.geo.errors import (
    AccessDeniedError,
    ConflictError,
    InputError,
    NotFoundError,
    RahatError,
    RateLimitedError,
    StorageFullError,
    TooLargeError,
    UnauthenticatedError,
    UnavailableError,
    UnreadableFileError,
    UnsupportedMediaTypeError,
)

logger = logging.getLogger("rahat.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    status: int,
    detail: str | None,
    request: Request | None = None,
    *,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a problem+json response.

    Parameters
    ----------
    status
        HTTP status code.
    detail
        What went wrong and what to do, for a person.
    request
        The request, whose path becomes ``instance``.
    type_
        Problem type URI; ``about:blank`` means "see the status code".
    headers
        Extra response headers.
    **extra
        Extension members (for example ``errors``).

    Server paths (the state, hazards and runs folders, the registry, the scenarios folder)
    in ``detail`` and in the messages of ``errors`` are replaced with ``<server>``; a path
    segment that looks like a CNIC or phone number is ``{number}`` in ``instance``
    (:func:`~rahat.api.service.identity_text.mask_path`).
    """
    settings = getattr(request.app.state, "settings", None) if request is not None else None
    if detail is not None:
        detail = redact_paths(detail, settings)
    if isinstance(extra.get("errors"), list):
        extra["errors"] = [
            {k: redact_paths(v, settings) if isinstance(v, str) else v for k, v in e.items()}
            if isinstance(e, dict)
            else e
            for e in extra["errors"]
        ]
    body: dict[str, Any] = {
        "type": type_,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = mask_path(request.url.path)
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def input_error_status(exc: InputError) -> int:
    """Return the HTTP status for a refused input: 413 too large, 400 unreadable, else 422.

    A body in a format the endpoint does not take is 415.
    """
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, UnsupportedMediaTypeError):
        return 415
    if isinstance(exc, UnreadableFileError):
        return 400
    return 422


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    return problem_response(
        input_error_status(exc),
        str(exc),
        request,
        type_=f"urn:rahat:problem:{exc.code}",
    )


#: HTTP status of each refusal that is not about the input.
REFUSAL_STATUS: dict[type[RahatError], int] = {
    UnauthenticatedError: 401,
    NotFoundError: 404,
    AccessDeniedError: 403,
    ConflictError: 409,
    RateLimitedError: 429,
    UnavailableError: 503,
    StorageFullError: 507,
}


async def _refusal(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RahatError)
    status = next((REFUSAL_STATUS[c] for c in type(exc).__mro__ if c in REFUSAL_STATUS), 500)
    headers = getattr(exc, "headers", None)
    code = getattr(exc, "code", "error")
    return problem_response(
        status, str(exc), request, type_=f"urn:rahat:problem:{code}", headers=headers
    )


#: Methods probed for the ``Allow`` header of a 405.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the application answers at the request's path."""
    allowed = []
    for method in _METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": request.scope.get("path", ""),
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # every method of the path, not only those of the first route matching it
        allowed = allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
        else:
            headers.setdefault("Allow", "")
    return problem_response(exc.status_code, detail, request, headers=headers or None)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": _location(err.get("loc", ())), "msg": str(err.get("msg", "invalid value"))}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
    return problem_response(
        422,
        f"The request is invalid: {summary}. Fix these fields and retry.",
        request,
        errors=errors,
    )


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    from rahat.api.service.storage import is_storage_full

    if is_storage_full(exc):  # a full disk is not a bug: 507, and the service stays up
        logger.error("storage full on %s %s: %s", request.method, mask_path(request.url.path), exc)
        return await _refusal(request, StorageFullError())
    path = mask_path(request.url.path)
    logger.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    return problem_response(
        500,
        "Internal server error; it has been logged. Retry later or tell the operators.",
        request,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem-document exception handlers on ``app``."""
    app.add_exception_handler(InputError, _input_error)
    for refusal in REFUSAL_STATUS:
        app.add_exception_handler(refusal, _refusal)
    app.add_exception_handler(OSError, _server_error)  # 507 when the disk is full
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem documents for ``statuses``."""
    return {
        code: {
            "model": Problem,
            "description": HTTPStatus(code).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for code in statuses
    }


def document_validation_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say what the app sends for invalid requests.

    FastAPI declares its own ``422`` (``application/json``, ``HTTPValidationError``) on every
    operation with parameters, but :func:`install_problem_handlers` answers those with a
    problem document (``application/problem+json``). The generated schema is rewritten once, so
    every ``422`` is declared as the problem document it is.
    """
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            problem = {"$ref": "#/components/schemas/Problem"}
            for operation in _operations(schema):
                declared = operation.get("responses", {}).get("422")
                if declared is not None and PROBLEM_MEDIA_TYPE not in declared.get("content", {}):
                    declared["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", Problem.model_json_schema())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    methods = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
    return [
        operation
        for item in schema.get("paths", {}).values()
        for method, operation in item.items()
        if method in methods
    ]
