"""One audit event per HTTP request, written by an ASGI middleware once the status is known.

Every request is recorded (authenticated or not, refused or not, failed or not) except
``GET /healthz`` and the static API docs. The event says who (organisation and role when the
key resolved, else ``""`` / ``anonymous``; the key's lookup prefix, never the token), what
(method, route template, raw path with any segment that looks like a CNIC or phone number as
``{number}``, action), with which filter (the query parameters, merged
with what the route noted), the outcome (the HTTP status) and how much was released (rows,
fields). Routes add to it with :meth:`rahat.api.service.audit.AuditNote.add`.

The event is written when the response *starts*, before any of it reaches the client, by the
group-commit writer (:class:`~rahat.api.service.audit.AuditWriter`: the event loop never waits
on the database, and concurrent requests share one commit). If that write fails, the failure
is logged and a response that would have succeeded (status below 400) is replaced by a 500
problem document: an access that could not be audited is refused, streamed downloads
included, since nothing has been sent yet. Error responses (4xx/5xx) are passed on unchanged,
as they release nothing. An exception that escapes the application is recorded as a 500.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rahat.api.service import audit
from rahat.api.service.identity_text import mask_path
from rahat.api.service.models import AuditEvent, utcnow
from rahat.api.service.security import Principal, presented_prefix

logger = logging.getLogger("rahat.api.audit")

#: Routes (templates) not audited for ``GET``/``HEAD``: the health check, the static docs and
#: the planners' page (static; what it asks of the API is audited).
UNAUDITED_ROUTES = frozenset(
    {"/", "/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)

#: Path prefixes of the public static files (the offline docs' scripts), not audited either.
STATIC_PATHS = ("/static/",)

#: Action names of routes whose name is not derived from their path.
ACTIONS: Mapping[tuple[str, str], str] = {
    ("POST", "/hazards"): "hazards.upload",
    ("GET", "/runs/{run_id}/households"): "households.export",
    ("POST", "/claims"): "claims.check",
}

#: Role recorded when no API key resolved.
ANONYMOUS = "anonymous"

_VERBS = {"POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}


def action_for(method: str, route: str | None) -> str:
    """Default action name of a request, from its method and route template.

    The first literal segment names the resource and later literal segments (without a file
    suffix) the operation: ``GET /runs/{run_id}/summary`` is ``runs.summary``, ``GET
    /runs/{run_id}/map.png`` is ``runs.map`` and ``POST /runs/compare`` is ``runs.compare``.
    Without a later segment, ``GET`` is ``list`` (or ``read`` when the path ends in a
    parameter) and the other methods are ``create``, ``replace``, ``update`` and ``delete``.
    Requests matching no route are ``unrouted``.
    """
    if route is None:
        return "unrouted"
    if (method, route) in ACTIONS:
        return ACTIONS[(method, route)]
    parts = [p for p in route.strip("/").split("/") if p]
    literal = [p.split(".")[0] for p in parts if not p.startswith("{")]
    if not literal:
        return "root"
    resource, rest = literal[0], literal[1:]
    if rest:
        operation = ".".join(rest)
    elif method in ("GET", "HEAD"):
        operation = "read" if parts[-1].startswith("{") else "list"
    else:
        operation = _VERBS.get(method, method.lower())
    return f"{resource}.{operation}"


def query_filter(query_string: bytes) -> dict[str, Any]:
    """The query parameters as a filter: repeated keys become lists, nothing is dropped."""
    params = QueryParams(query_string.decode("latin-1"))
    out: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        out[key] = values[0] if len(values) == 1 else values
    return out


def _header_prefix(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return presented_prefix(token.strip())


class AuditMiddleware:
    """ASGI middleware writing exactly one audit event per HTTP request.

    Parameters
    ----------
    app
        The wrapped application. The session factory is read from ``app.state.sessionmaker``
        of the application serving the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, writing its audit event when the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = utcnow()
        state = scope.setdefault("state", {})
        state[audit.STATE_KEY] = audit.AuditNote()
        written = False
        replaced = False

        async def send_audited(message: Message) -> None:
            nonlocal written, replaced
            if replaced:  # the client already got a 500: stop the application
                raise _AbortedError
            if message["type"] == "http.response.start" and not written:
                written = True
                status = int(message["status"])
                ok = await self._write(scope, status, started_at)
                if not ok and status < 400:
                    replaced = True
                    await self._refuse(scope, receive, send)
                    raise _AbortedError
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except _AbortedError:
            return
        except BaseException:
            if replaced:
                return
            if not written:
                written = True
                await self._write(scope, 500, started_at)
            raise
        if not written:  # the application answered nothing; the server will send a 500
            await self._write(scope, 500, started_at)

    async def _write(self, scope: Scope, status: int, started_at: dt.datetime) -> bool:
        """Write the request's event (group commit); ``False`` (logged) if that failed."""
        event = self._event(scope, status, started_at)
        if event is None:
            return True
        try:
            factory = scope["app"].state.sessionmaker
            # shielded: a client hanging up must not leave its request unaudited
            with anyio.CancelScope(shield=True):
                await audit.append(factory, event)
        except Exception as exc:
            scope.setdefault("state", {})[_AUDIT_ERROR] = exc
            logger.exception(
                "could not write the audit event of %s %s (status %d)",
                scope.get("method"),
                mask_path(str(scope.get("path", ""))),
                status,
            )
            return False
        return True

    @staticmethod
    def _event(scope: Scope, status: int, started_at: dt.datetime) -> AuditEvent | None:
        """Build the request's audit event, or ``None`` for a request that is not audited."""
        method = str(scope.get("method", ""))
        route = getattr(scope.get("route"), "path", None)
        template = route if isinstance(route, str) else None
        raw_path = str(scope.get("path", ""))
        local_path = raw_path.removeprefix(str(scope.get("root_path", "")))
        if method in ("GET", "HEAD") and (
            (template or local_path) in UNAUDITED_ROUTES or local_path.startswith(STATIC_PATHS)
        ):
            return None
        state = scope.get("state", {})
        notes = state.get(audit.STATE_KEY)
        if not isinstance(notes, audit.AuditNote):
            notes = audit.AuditNote()
        principal = state.get("principal")
        prefix = state.get("key_prefix") or _header_prefix(Headers(scope=scope))
        path_params = scope.get("path_params") or {}
        run_id = notes.run_id or path_params.get("run_id")
        return audit.event_row(
            organisation=principal.organisation if isinstance(principal, Principal) else "",
            role=principal.role if isinstance(principal, Principal) else ANONYMOUS,
            key_prefix=prefix,
            method=method,
            route=template,
            path=mask_path(raw_path),
            action=notes.action or action_for(method, template),
            outcome=status,
            run_id=str(run_id) if run_id is not None else None,
            agreement_id=notes.agreement_id,
            filter={**query_filter(scope.get("query_string", b"")), **notes.filter},
            rows=notes.rows or 0,
            fields=notes.fields or (),
            at=started_at,
        )

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        """Answer in place of a response whose audit event could not be written.

        ``507`` when the disk or database is full (the client may retry once space is freed),
        else ``500``; either way nothing of the response is sent.
        """
        from rahat.api.service.problems import problem_response
        from rahat.api.service.storage import is_storage_full
        from rahat.geo.errors import StorageFullError

        full = is_storage_full(scope.get("state", {}).get(_AUDIT_ERROR))
        response = problem_response(
            507 if full else 500,
            "The access could not be written to the audit log, so it was refused; it has been "
            + (
                "logged. The server's storage is full: retry once the operators have freed space."
                if full
                else "logged. Retry later or tell the operators."
            ),
            Request(scope),
            type_=f"urn:rahat:problem:{StorageFullError.code}" if full else "about:blank",
        )
        await response(scope, receive, send)


#: Key in the request state of the exception that kept the audit event from being written.
_AUDIT_ERROR = "audit_error"


class _AbortedError(Exception):
    """Raised into the application once its response was replaced by a 500."""
