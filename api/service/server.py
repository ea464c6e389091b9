"""The HTTP protocol ``rahat serve`` runs uvicorn with: uvicorn's, plus slow-client timeouts.

uvicorn closes a connection idle *between* requests (``timeout_keep_alive``) but has no
timeout while a request is being received: a client sending its headers a byte at a time,
or a body that never ends, holds its connection for ever. :func:`protocol_class` subclasses
uvicorn's protocol (httptools when installed, else h11) to add

* a header timeout: a request's line and headers must arrive within ``header_timeout``
  seconds of the connection opening or of the request's first byte, else the client gets a
  408 and the connection is closed (``client_header_timeout`` in nginx);
* a body timeout: while a request body is coming, each piece must follow the previous one
  within ``body_timeout`` seconds (while the server is not reading because the application
  has not asked for more, the clock does not run), else the connection is closed
  (``client_body_timeout`` in nginx);
* a header size limit: a request line and headers longer than ``max_header_bytes`` get a 431
  (h11 enforces it itself, as ``h11_max_incomplete_event_size``). Only the bytes up to the end
  of the headers (the first blank line) count: a body that arrives before uvicorn has started
  the request's cycle (the previous response just finished on a kept-alive connection) is not
  header bytes (:func:`header_bytes`).
"""

from __future__ import annotations

import asyncio
from typing import Any

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 37\r\nconnection: close\r\n\r\nThe request headers came too slowly.\n"
)
_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 33\r\nconnection: close\r\n\r\nThe request headers are too long.\n"
)


#: The end of a request's headers.
_BLANK_LINE = b"\r\n\r\n"


def header_bytes(tail: bytes, data: bytes) -> tuple[int, bool, bytes]:
    """Count the header bytes of ``data``, a piece of a request received while awaiting headers.

    Parameters
    ----------
    tail
        The last (up to 3) bytes received before ``data`` since the headers began: a blank line
        may straddle two pieces.
    data
        The piece.

    Returns
    -------
    (int, bool, bytes)
        How many bytes of ``data`` belong to the request line and headers, whether the headers
        ended in it, and the tail to pass with the next piece.
    """
    seen = tail + data
    end = seen.find(_BLANK_LINE)
    if end < 0:
        return len(data), False, seen[-3:]
    return max(end + len(_BLANK_LINE) - len(tail), 0), True, b""


def _base_protocol() -> type[asyncio.Protocol]:
    """Return uvicorn's protocol for ``http="auto"``: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol


def protocol_class(
    header_timeout: float, body_timeout: float, max_header_bytes: int
) -> type[asyncio.Protocol]:
    """Build uvicorn's HTTP protocol class with the timeouts and limit above.

    Parameters
    ----------
    header_timeout
        Seconds for a request line and headers, from the connection or the request's first byte.
    body_timeout
        Seconds the server waits for the next piece of a request body.
    max_header_bytes
        Largest request line and headers.

    Returns
    -------
    type
        A subclass of uvicorn's protocol, to pass as ``uvicorn.run(http=...)``.
    """
    base: Any = _base_protocol()

    class TimedProtocol(base):
        """uvicorn's protocol with header and body timeouts (see the module)."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._header_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None
            self._header_bytes = 0
            self._header_tail = b""
            self._headers_ended = False
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timers()
            super().connection_lost(exc)

        # -- phases -------------------------------------------------------------------------

        def _awaiting_headers(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is None or bool(cycle.response_complete)

        def _receiving_body(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is not None and not cycle.response_complete and bool(cycle.more_body)

        # -- timers -------------------------------------------------------------------------

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._header_timed_out)

        def _arm_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
            self._body_timer = self.loop.call_later(body_timeout, self._body_timed_out)

        def _cancel_timers(self) -> None:
            for timer in (self._header_timer, self._body_timer):
                if timer is not None:
                    timer.cancel()
            self._header_timer = self._body_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self._awaiting_headers() and not self.transport.is_closing():
                self.transport.write(_REQUEST_TIMEOUT)
                self.transport.close()

        def _body_timed_out(self) -> None:
            self._body_timer = None
            if not self._receiving_body() or self.transport.is_closing():
                return
            if self.flow.read_paused:  # the application is not reading: not the client's fault
                self._arm_body_timer()
                return
            self.transport.close()

        # -- events -------------------------------------------------------------------------

        def data_received(self, data: bytes) -> None:
            waiting = self._awaiting_headers()
            if waiting:
                self._arm_header_timer()
                if not self._headers_ended:
                    counted, self._headers_ended, self._header_tail = header_bytes(
                        self._header_tail, data
                    )
                    self._header_bytes += counted
            super().data_received(data)
            if self.transport.is_closing():
                return
            if self._awaiting_headers():
                if self._header_bytes > max_header_bytes:
                    self.transport.write(_HEADERS_TOO_LARGE)
                    self.transport.close()
                return
            # the headers are in
            self._header_bytes = 0
            self._header_tail, self._headers_ended = b"", False
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            if self._receiving_body():
                self._arm_body_timer()
            elif self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

    TimedProtocol.__name__ = TimedProtocol.__qualname__ = f"Timed{base.__name__}"
    return TimedProtocol
