"""Request-body limits: authenticate before a body is read, and cap every body.

:class:`BodyLimitMiddleware` wraps the ASGI ``receive`` channel of each HTTP request. The
first time the application asks for the body (after routing, before the body is parsed or
validated), the middleware

1. authenticates the caller, unless a dependency already did: a request without a
   well-formed ``Authorization: Bearer rahat_...`` header, or whose key is unknown or revoked,
   is answered 401 before any of its body is read (no route takes a body anonymously), so an
   anonymous caller can neither make the server hold its body nor learn how the body would be
   validated;
2. refuses a body declaring (``Content-Length``) more than the request's limit with 413 at
   once, and counts a streamed (chunked) body, answering 413 as soon as it passes the limit,
   so at most the limit is ever held.

The limit is ``RAHAT_MAX_JSON_BYTES`` (default 1 MiB) unless the handler raised it with
:func:`allow_body` (the streamed hazard upload does, to its file cap plus a small allowance)
or the route has its own setting in :data:`ROUTE_LIMITS` (a batch of claims).
A refusal replaces whatever the application then answers; it carries ``Connection: close``
so the server drops the rest of the body instead of reading it.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rahat.api.service import security
from rahat.geo.errors import UnauthenticatedError

#: Scope key of the body limit of a request, in bytes (see :func:`allow_body`).
LIMIT_KEY = "rahat.max_body_bytes"

#: Settings holding the body limit of a route whose JSON body may be larger than others.
ROUTE_LIMITS: dict[tuple[str, str], str] = {("POST", "/claims"): "claims_max_json_bytes"}


def allow_body(scope: Scope, max_bytes: int) -> None:
    """Let the request of ``scope`` carry a body of up to ``max_bytes`` (call before reading)."""
    scope[LIMIT_KEY] = max_bytes


class _RefusalError(Exception):
    """Raised into the application when its request body is refused."""

    def __init__(
        self, status: int, detail: str, headers: dict[str, str], type_: str = "about:blank"
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.type = type_


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _too_large(limit: int, size: int | None = None) -> _RefusalError:
    amount = f"declares {size:,} bytes" if size is not None else "is longer"
    return _RefusalError(
        413,
        f"The request body {amount}, more than the {limit:,} bytes this request may carry; "
        "send less (operators may raise RAHAT_MAX_JSON_BYTES or RAHAT_MAX_UPLOAD_BYTES).",
        {"Connection": "close"},
    )


class BodyLimitMiddleware:
    """ASGI middleware authenticating before a body is read and capping request bodies.

    Parameters
    ----------
    app
        The wrapped application. Settings (``max_json_bytes``) and the session factory are
        read from the state of the application serving the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, refusing its body (401/413) if need be."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _declared_length(headers)
        received = 0
        checked = False
        refusal: _RefusalError | None = None
        started = False  # a response start went out (the application's or the refusal)

        async def limited_receive() -> Message:
            nonlocal received, checked, refusal
            if refusal is not None:
                raise refusal
            if not checked:
                checked = True
                refusal = await self._check(scope, headers, declared)
                if refusal is not None:
                    raise refusal
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                limit = self._limit(scope)
                if received > limit:
                    refusal = _too_large(limit)
                    raise refusal
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None:
                if not started:
                    started = True
                    await self._respond(scope, refusal, send)
                return  # the application's own answer to the refusal is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if refusal is None or started:
                raise
        if refusal is not None and not started:
            started = True
            await self._respond(scope, refusal, send)

    @staticmethod
    def _limit(scope: Scope) -> int:
        limit = scope.get(LIMIT_KEY)
        if isinstance(limit, int):
            return limit
        name = ROUTE_LIMITS.get((scope.get("method", ""), scope.get("path", "")), "max_json_bytes")
        return int(getattr(scope["app"].state.settings, name))

    async def _check(
        self, scope: Scope, headers: Headers, declared: int | None
    ) -> _RefusalError | None:
        """Authenticate (when no dependency did yet), then check the declared size."""
        state = scope.setdefault("state", {})
        if _bodiless_read(scope, headers, declared):
            return None  # nothing to guard: the route authenticates (or is public: /static)
        if not isinstance(state.get("principal"), security.Principal):
            token = security.bearer_token(headers.get("authorization"))
            if token is None:
                return _unauthorized(security.MISSING_KEY)
            state["key_prefix"] = security.presented_prefix(token)
            principal = await anyio.to_thread.run_sync(
                _authenticate, scope["app"].state.sessionmaker, token
            )
            if principal is None:
                return _unauthorized(security.UNKNOWN_KEY)
            state["principal"] = principal  # for the audit log (the route resolves it again)
        limit = self._limit(scope)
        if declared is not None and declared > limit:
            return _too_large(limit, declared)
        return None

    @staticmethod
    async def _respond(scope: Scope, refusal: _RefusalError, send: Send) -> None:
        from rahat.api.service.problems import problem_response

        response = problem_response(
            refusal.status,
            refusal.detail,
            Request(scope),
            type_=refusal.type,
            headers=refusal.headers,
        )

        async def no_body() -> Message:  # the refusal never reads the body
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


def _bodiless_read(scope: Scope, headers: Headers, declared: int | None) -> bool:
    """Whether the request is a GET or HEAD that declares no body.

    Responses that stream a file listen for the client's disconnect through ``receive``; for
    such a request that is no body to refuse, so public files (the page, ``/static``) load
    without a key.
    """
    no_body = declared in (None, 0) and "transfer-encoding" not in headers
    return scope.get("method") in ("GET", "HEAD") and no_body


def _unauthorized(detail: str) -> _RefusalError:
    """A 401 refusal of a body, as :class:`~rahat.geo.errors.UnauthenticatedError` answers."""
    return _RefusalError(
        401,
        detail,
        {**UnauthenticatedError.headers, "Connection": "close"},
        type_=f"urn:rahat:problem:{UnauthenticatedError.code}",
    )


def _authenticate(factory: Any, token: str) -> security.Principal | None:
    with factory() as session:
        return security.authenticate(session, token)
